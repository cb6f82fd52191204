/* privdrop.h: dropping root for good (STYLE.md 5.). */
#ifndef SATCHEL_PRIVDROP_H
#define SATCHEL_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct privdrop {
	bool active;  /* started as root: drop to uid/gid in children */
	uid_t uid;
	gid_t gid;
	char name[64];  /* for initgroups: supplementary groups such as
			   "mail" (to lock in /var/mail) are kept */
};

/* Resolves user when running as root (uid 0 is refused: mail is never
 * served as root). When not root, pd->active is false and nothing will
 * change. 0 or -1 with err. */
int privdrop_resolve(const char *user, struct privdrop *pd,
		     char *err, size_t errsize);
/* initgroups + setresgid + setresuid, each checked, then verified. 0/-1. */
int privdrop_apply(const struct privdrop *pd, char *err, size_t errsize);

#endif
