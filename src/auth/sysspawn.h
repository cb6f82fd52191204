/* sysspawn.h: the root spawners of the auth process's helpers for system
 * users. PAM reads /etc/shadow and may switch users, and a mail agent
 * must become the user, so both need root; the auth process does not run
 * as root. Before the auth process drops its privileges it forks these
 * small processes, which keep root and do one thing each: on a request
 * (pam_proto.h) from the auth process they fork a helper on a new
 * socketpair and hand the auth process its end (SCM_RIGHTS).
 *
 *   the PAM spawner     (satchel-spawn, when users names pam): PAM
 *                       helpers (pam_helper.h), which die with it
 *   the agent spawner   (satchel-agents, when users names pam or
 *                       mail_process = per-user): one mail agent per
 *                       login (sysspawn_agent.c, store/agent.h), which
 *                       lives as long as its session's socket
 *
 * Each dies with the auth process and answers nobody else (its one
 * socket is the auth process's): a worker never reaches a spawner, so a
 * compromised worker cannot ask for an agent of any uid. */
#ifndef SATCHEL_SYSSPAWN_H
#define SATCHEL_SYSSPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "auth/auth_settings.h"
#include "util/sandbox.h"

/* What the agent spawner needs besides the request: handed down by the
 * front end (serve/) from the config, kept by the spawner. */
struct sysspawn_agents {
	bool on;                  /* start the agent spawner */
	bool per_user;            /* mail_process = per-user: every login */
	uid_t mail_uid;           /* mail_user's: the virtual users' agents */
	gid_t mail_gid;
	unsigned first_valid_uid; /* other uids below it are refused */
	unsigned lock_stale_secs;
	const char *store_marker; /* "" none */
	const char *index_dir;    /* "" none */
	/* the agents' sandbox: the switches, and the paths every agent
	 * may reach besides its maildrop (index_dir, the heartbeats, the
	 * marker); the maildrop is added per agent */
	struct sandbox_settings sandbox;
};

/* Forks the spawners set and agents ask for (in the auth process's
 * child, still root, before its privileges drop). 0 (also when none is
 * needed), or -1 (logged: PAM logins, or logins that need an agent,
 * then fail temporarily). agents must stay valid (the spawner keeps
 * it, and each agent adds its maildrop to its own copy of it); NULL: no
 * agents. */
int sysspawn_start(const struct auth_settings *set,
		   struct sysspawn_agents *agents);
/* The auth process's socket to its PAM spawner, -1 when there is none. */
int sysspawn_socket(void);
/* The auth process's socket to its agent spawner, -1 when there is
 * none, and the settings it was started with (NULL then). */
int sysspawn_agent_socket(void);
const struct sysspawn_agents *sysspawn_agent_settings(void);

/* sysspawn_agent.c, in the agent spawner: checks req against agents
 * (uid 0 never; a uid below first_valid_uid only when it is mail_user's;
 * an absolute path) and forks the agent: the user's groups, gid and uid,
 * its sandbox (SANDBOX_AGENT: Landlock on the maildrop, index_dir and
 * the heartbeats only), then agent_serve() on its end of a new
 * socketpair. The other end into *fd_r. 0, or -1 (logged). */
struct sysspawn_agent_request;
int sysspawn_agent_fork(struct sysspawn_agents *agents,
			const struct sysspawn_agent_request *req, int *fd_r);
/* In the agent spawner, once before its loop: what every agent would
 * otherwise work out again (its seccomp filter, mail_user's groups). */
void sysspawn_agent_prepare(const struct sysspawn_agents *agents);
/* In a new child of a spawner: only fd stays open (besides stdio and
 * the log), named name, not dumpable. */
void sysspawn_child_setup(int fd, const char *name, bool die_with_parent);

#endif
