/* config_sandbox.h: the sandbox settings (util/sandbox.h) of each kind
 * of process, from the config: the sandbox keys, and the directories a
 * process may reach (the mail roots, node_heartbeat_dir, the spool). */
#ifndef SATCHEL_CONFIG_SANDBOX_H
#define SATCHEL_CONFIG_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

#include "auth/sysspawn.h"
#include "config/config.h"
#include "util/sandbox.h"

/* The mail roots into paths (read-write): sandbox_mail_root's
 * directories, or else the fixed leading directories of mail
 * ("maildir:/srv/mail/%d/%n" -> /srv/mail). NULL, or why there is none
 * (mail under each user's home, or no fixed directory). */
const char *config_sandbox_mail_roots(const struct config *cfg,
				      struct sandbox_paths *paths);

/* config_finish's: sandbox_mail_root names only absolute directories,
 * and not too many. 0, or -1 with err. */
int config_sandbox_check(const struct config *cfg, char *err,
			 size_t errsize);

/* Fills set for a process of kind. 0, or -1 with err (a path too long,
 * too many). */
int config_sandbox(const struct config *cfg, enum sandbox_kind kind,
		   struct sandbox_settings *set, char *err, size_t errsize);

/* config_sandbox for kind, then sandbox_apply. landlock_off: why this
 * process gets no Landlock ruleset (it reads the user database
 * itself), or NULL. 0, or -1 with err. */
int config_sandbox_apply(const struct config *cfg, enum sandbox_kind kind,
			 bool announce, const char *landlock_off, char *err,
			 size_t errsize);

/* satchel deliver's child, its user looked up: read-write only the one
 * maildrop at path (a Maildir, or an mbox's directory), the spool and
 * node_heartbeat_dir. 0, or -1 with err. */
int config_sandbox_deliver(const struct config *cfg, const char *path,
			  bool mbox, struct sandbox_settings *set, char *err,
			  size_t errsize);

/* The agent spawner's settings (auth/sysspawn.h) from cfg: on when
 * users names pam or mail_process = per-user (never in proxy mode), the
 * agents' sandbox switches and the paths every agent may reach besides
 * its maildrop. mail_uid, mail_gid: mail_user's. 0, or -1 with err. */
int config_agents(const struct config *cfg, uid_t mail_uid, gid_t mail_gid,
		  struct sysspawn_agents *agents, char *err, size_t errsize);

#endif
