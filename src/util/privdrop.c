/* privdrop.c: resolve the mail user and drop to it (see privdrop.h). */
#include "util/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int privdrop_resolve(const char *user, struct privdrop *pd,
		     char *err, size_t errsize)
{
	struct passwd *pw;

	memset(pd, 0, sizeof(*pd));
	if (geteuid() != 0)
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errsize, "mail_user '%s' does not exist "
			 "(create it, e.g. with make install)", user);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errsize, "mail_user '%s' has uid or gid 0: "
			 "refusing to serve mail as root", user);
		return -1;
	}
	if (strlen(user) >= sizeof(pd->name)) {
		snprintf(err, errsize, "mail_user name too long");
		return -1;
	}
	pd->active = true;
	strcpy(pd->name, user);
	pd->uid = pw->pw_uid;
	pd->gid = pw->pw_gid;
	return 0;
}

int privdrop_apply(const struct privdrop *pd, char *err, size_t errsize)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (!pd->active)
		return 0;
	if (initgroups(pd->name, pd->gid) < 0 ||
	    setresgid(pd->gid, pd->gid, pd->gid) < 0 ||
	    setresuid(pd->uid, pd->uid, pd->uid) < 0) {
		snprintf(err, errsize, "dropping privileges: %s",
			 strerror(errno));
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) < 0 ||
	    getresgid(&rgid, &egid, &sgid) < 0 ||
	    ruid != pd->uid || euid != pd->uid || suid != pd->uid ||
	    rgid != pd->gid || egid != pd->gid || sgid != pd->gid ||
	    setuid(0) == 0) {
		snprintf(err, errsize, "privileges were not fully dropped");
		return -1;
	}
	return 0;
}
