/* sysspawn_agent.c: the agent spawner's one action (see sysspawn.h):
 * check a request of the auth process, fork, become the user, sandbox,
 * serve the maildrop. Everything between the fork and agent_serve runs
 * as root in the child only, so the spawner itself stays a loop of
 * recv, fork, send. */
#include "auth/sysspawn.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/pam_proto.h"
#include "store/agent.h"
#include "store/node.h"
#include "util/log.h"
#include "util/privdrop.h"

/* What the spawner works out once, at its start, so that each agent
 * only applies it: the seccomp filter (libseccomp's compile is a good
 * part of an agent's start) and mail_user's groups (an NSS lookup). */
static struct sandbox_seccomp_prog agent_prog;
static bool agent_prog_ok;
#define AGENT_GROUPS_MAX 64
static gid_t mail_groups[AGENT_GROUPS_MAX];
static int mail_ngroups = -1;

void sysspawn_agent_prepare(const struct sysspawn_agents *agents)
{
	const struct sandbox_settings *sb = &agents->sandbox;
	struct passwd *pw;
	char err[256];

	if (sb->on && sb->seccomp != SANDBOX_SECCOMP_NO &&
	    sb->seccomp_off == NULL) {
		if (sandbox_seccomp_compile(SANDBOX_AGENT, sb->seccomp,
					    &agent_prog, err,
					    sizeof(err)) == 0)
			agent_prog_ok = true;
		else
			log_warn("agents: %s (each agent builds its own)",
				 err);
	}
	pw = getpwuid(agents->mail_uid);
	if (pw != NULL) {
		int n = AGENT_GROUPS_MAX;

		if (getgrouplist(pw->pw_name, agents->mail_gid, mail_groups,
				 &n) >= 0)
			mail_ngroups = n;
	}
}

/* Why req may not have an agent, or NULL. */
static const char *agent_refusal(const struct sysspawn_agents *agents,
				 const struct sysspawn_agent_request *req)
{
	if (memchr(req->path, '\0', sizeof(req->path)) == NULL ||
	    req->path[0] != '/')
		return "the maildrop path is not absolute";
	if (strstr(req->path, "/../") != NULL ||
	    (strlen(req->path) >= 3 &&
	     strcmp(req->path + strlen(req->path) - 3, "/..") == 0))
		return "the maildrop path has a '..'";
	if (req->mail_kind != MAILDROP_MAILDIR &&
	    req->mail_kind != MAILDROP_MBOX)
		return "unknown maildrop kind";
	if (req->uid <= 0 || req->gid <= 0 ||
	    req->uid > (int64_t)UINT32_MAX - 1 ||
	    req->gid > (int64_t)UINT32_MAX - 1)
		return "uid or gid 0 (root) or out of range";
	if ((uid_t)req->uid == agents->mail_uid &&
	    (gid_t)req->gid == agents->mail_gid)
		return NULL; /* mail_user's own: a virtual user */
	if ((uint64_t)req->uid < agents->first_valid_uid)
		return "uid below first_valid_uid";
	return NULL;
}

/* setgroups, setresgid, setresuid, then the check privdrop_apply
 * makes. 0 or -1 (logged). */
static int agent_setids(const struct privdrop *pd, const gid_t *groups,
			int ngroups)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (setgroups((size_t)ngroups, groups) < 0 ||
	    setresgid(pd->gid, pd->gid, pd->gid) < 0 ||
	    setresuid(pd->uid, pd->uid, pd->uid) < 0 ||
	    getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    r != pd->uid || e != pd->uid || s != pd->uid || rg != pd->gid ||
	    eg != pd->gid || sg != pd->gid || setuid(0) == 0) {
		log_error("agent: dropping privileges: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The user's privileges: their groups (mail_user's as the spawner
 * found them; else initgroups by the name the uid has, none when it has
 * no name), gid, uid. Not root: only our own uid
 * can be served. */
static int agent_drop(const struct sysspawn_agents *agents,
		      const struct sysspawn_agent_request *req)
{
	struct privdrop pd = { .active = true, .uid = (uid_t)req->uid,
			       .gid = (gid_t)req->gid };
	struct passwd *pw;
	char err[256];

	if (geteuid() != 0) {
		if ((uid_t)req->uid == geteuid() &&
		    (gid_t)req->gid == getegid())
			return 0;
		log_error("agent: not root: cannot serve uid %lld",
			  (long long)req->uid);
		return -1;
	}
	if (pd.uid == agents->mail_uid && pd.gid == agents->mail_gid &&
	    mail_ngroups >= 0)
		return agent_setids(&pd, mail_groups, mail_ngroups);
	pw = getpwuid(pd.uid);
	if (pw != NULL && strlen(pw->pw_name) < sizeof(pd.name))
		snprintf(pd.name, sizeof(pd.name), "%s", pw->pw_name);
	if (pd.name[0] == '\0')
		return agent_setids(&pd, NULL, 0); /* no account: no groups */
	if (privdrop_apply(&pd, err, sizeof(err)) < 0) {
		log_error("agent: %s", err);
		return -1;
	}
	return 0;
}

/* The sandbox: the maildrop (a Maildir, or an mbox's directory for its
 * dotlock and rewrite) besides the spawner's paths. A Maildir that does
 * not exist yet is made first, so the rule names it and not its parent
 * (which holds other users' maildrops). */
static int agent_sandbox(struct sysspawn_agents *agents,
			 const struct sysspawn_agent_request *req)
{
	/* this process's own copy of the spawner's settings: the one path
	 * is added in place (a copy would dirty 100 KB of paths per
	 * agent) */
	struct sandbox_settings *set = &agents->sandbox;
	char dir[SANDBOX_PATH_MAX], err[512];
	const char *slash;

	if (agent_prog_ok)
		set->seccomp_prog = &agent_prog;
	snprintf(dir, sizeof(dir), "%s", req->path);
	if (req->mail_kind == MAILDROP_MBOX) {
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir) {
			log_error("agent: mbox %s has no directory", dir);
			return -1;
		}
		dir[slash - dir] = '\0';
	} else if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("agent: cannot create the Maildir %s: %s", dir,
			  strerror(errno));
		return -1;
	}
	if (sandbox_paths_add(&set->paths, true, dir) < 0) {
		log_error("agent: sandbox: too many paths, or too long: %s",
			  dir);
		return -1;
	}
	/* what the lock reads before it is needed: the boot id is in
	 * /proc/sys, which no rule opens */
	(void)node_boot_id();
	(void)node_id();
	if (sandbox_apply(set, SANDBOX_AGENT, false, err, sizeof(err)) < 0) {
		log_error("agent: %s", err);
		return -1;
	}
	return 0;
}

static int agent_child(struct sysspawn_agents *agents,
		       const struct sysspawn_agent_request *req, int fd)
{
	struct maildrop_settings set = {
		.kind = (enum maildrop_kind)req->mail_kind,
		.path = req->path,
		.lock_stale_secs = agents->lock_stale_secs,
		.create = true,
		.store_marker = agents->store_marker,
		.index_dir = agents->index_dir,
		.agent_fd = -1,
	};

	log_set_role("agent");
	if (agent_drop(agents, req) < 0 || agent_sandbox(agents, req) < 0)
		return EX_NOPERM;
	log_debug("agent: uid %lld serves %s", (long long)req->uid,
		  req->path);
	return agent_serve(fd, &set);
}

int sysspawn_agent_fork(struct sysspawn_agents *agents,
			const struct sysspawn_agent_request *req, int *fd_r)
{
	const char *why = agent_refusal(agents, req);
	int pair[2];
	pid_t pid;

	if (why != NULL) {
		log_error("agents: refused an agent for uid %lld: %s",
			  (long long)req->uid, why);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("agents: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("agents: fork: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		close(pair[0]);
		/* it lives as long as its session's socket, not as long as
		 * the spawner: a restarted auth process leaves sessions be */
		sysspawn_child_setup(pair[1], "satchel-agent", false);
		_exit(agent_child(agents, req, pair[1]));
	}
	close(pair[1]);
	*fd_r = pair[0];
	return 0;
}
