/* config_sandbox.c: what each kind of process may reach once sandboxed
 * (see config_sandbox.h, docs/security.md). */
#include "config/config_sandbox.h"

#include <stdio.h>
#include <string.h>

#include "auth/userdb.h"

/* Where satchel deliver and the LMTP workers spool a message
 * (store/delivery.c's default). */
#define SPOOL_DIR "/tmp"

/* The directory of pattern before its first variable: cut at the first
 * '%', then back to the last '/'. "" when there is none. */
static void fixed_root(const char *pattern, char *out, size_t size)
{
	size_t len = strcspn(pattern, "%");

	while (len > 0 && pattern[len - 1] != '/')
		len--;
	while (len > 1 && pattern[len - 1] == '/')
		len--; /* "/srv/mail/" -> "/srv/mail" */
	if (len >= size || (len == 1 && pattern[0] == '/'))
		len = 0;
	memcpy(out, pattern, len);
	out[len] = '\0';
}

const char *config_sandbox_mail_roots(const struct config *cfg,
				      struct sandbox_paths *paths)
{
	char root[SANDBOX_PATH_MAX];
	const char *p = cfg->sandbox_mail_root;

	if (p[0] != '\0') {
		while (*p != '\0') {
			size_t len = strcspn(p, ",");

			while (len > 0 && p[len - 1] == ' ')
				len--;
			if (len > 0 && len < sizeof(root)) {
				memcpy(root, p, len);
				root[len] = '\0';
				if (root[0] != '/' ||
				    sandbox_paths_add(paths, true, root) < 0)
					return "sandbox_mail_root names a path "
					       "that is not absolute, or too "
					       "many";
			}
			p += strcspn(p, ",");
			p += *p == ',';
			p += strspn(p, " ");
		}
		return NULL;
	}
	if (cfg->auth.mail_pattern[0] == '~')
		return "mail is under each user's home: set sandbox_mail_root";
	fixed_root(cfg->auth.mail_pattern, root, sizeof(root));
	if (root[0] != '/')
		return "mail has no fixed leading directory: set "
		       "sandbox_mail_root";
	(void)sandbox_paths_add(paths, true, root);
	return NULL;
}

static int add(struct sandbox_paths *paths, bool rw, const char *path,
	       char *err, size_t errsize)
{
	if (path[0] == '\0' || sandbox_paths_add(paths, rw, path) == 0)
		return 0;
	snprintf(err, errsize, "sandbox: too many paths, or too long: %s",
		 path);
	return -1;
}

int config_sandbox(const struct config *cfg, enum sandbox_kind kind,
		   struct sandbox_settings *set, char *err, size_t errsize)
{
	memset(set, 0, sizeof(*set));
	set->on = cfg->sandbox;
	set->seccomp = cfg->sandbox_seccomp;
	set->landlock = cfg->sandbox_landlock;
	if (kind == SANDBOX_AUTH) {
		/* the user databases, keytab and keys may be anywhere */
		set->landlock_off = "not applied to auth";
		return 0;
	}
	/* the key comes through a descriptor the master opened: no path */
	if (kind == SANDBOX_KEY)
		return 0;
	/* sendmail inherits both, and needs more than a worker */
	if ((kind == SANDBOX_WORKER || kind == SANDBOX_STDIO) &&
	    cfg->xtnd_xmit && cfg->xtnd_xmit_relay[0] == '\0') {
		set->landlock_off = "xtnd_xmit runs xtnd_xmit_sendmail";
		set->seccomp_off = set->landlock_off;
		return 0;
	}
	if ((kind == SANDBOX_WORKER || kind == SANDBOX_STDIO) &&
	    cfg->mail_process == MAIL_PROCESS_PER_USER && !cfg->proxy) {
		/* every maildrop is an agent's: no mail root, no index, so
		 * a forged path gets EACCES here too */
		return add(&set->paths, false, cfg->proxy_tls_ca, err,
			   errsize);
	}
	set->landlock_off = config_sandbox_mail_roots(cfg, &set->paths);
	if (add(&set->paths, true, cfg->node_heartbeat_dir, err,
		errsize) < 0 ||
	    add(&set->paths, true, cfg->index_dir, err, errsize) < 0 ||
	    add(&set->paths, false, cfg->mail_store_marker, err,
		errsize) < 0 ||
	    add(&set->paths, false, cfg->proxy_tls_ca, err, errsize) < 0)
		return -1;
	if ((kind == SANDBOX_LMTP || kind == SANDBOX_DELIVER ||
	     kind == SANDBOX_STDIO) &&
	    add(&set->paths, true, SPOOL_DIR, err, errsize) < 0)
		return -1;
	return 0;
}

int config_sandbox_apply(const struct config *cfg, enum sandbox_kind kind,
			 bool announce, const char *landlock_off, char *err,
			 size_t errsize)
{
	/* big (the paths): not on a job thread's stack, one per process */
	static struct sandbox_settings set;

	if (config_sandbox(cfg, kind, &set, err, errsize) < 0)
		return -1;
	if (landlock_off != NULL)
		set.landlock_off = landlock_off;
	return sandbox_apply(&set, kind, announce, err, errsize);
}

int config_sandbox_deliver(const struct config *cfg, const char *path,
			  bool mbox, struct sandbox_settings *set, char *err,
			  size_t errsize)
{
	char dir[SANDBOX_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = mbox && slash != NULL ? (size_t)(slash - path) :
		     strlen(path);

	memset(set, 0, sizeof(*set));
	set->on = cfg->sandbox;
	set->seccomp = cfg->sandbox_seccomp;
	set->landlock = cfg->sandbox_landlock;
	if (len == 0 || len >= sizeof(dir)) {
		snprintf(err, errsize, "sandbox: maildrop path %s", path);
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (add(&set->paths, true, dir, err, errsize) < 0 ||
	    add(&set->paths, true, cfg->node_heartbeat_dir, err,
		errsize) < 0 ||
	    add(&set->paths, true, cfg->index_dir, err, errsize) < 0 ||
	    add(&set->paths, true, SPOOL_DIR, err, errsize) < 0 ||
	    add(&set->paths, false, cfg->mail_store_marker, err, errsize) < 0)
		return -1;
	return 0;
}

int config_sandbox_check(const struct config *cfg, char *err,
			 size_t errsize)
{
	/* big (the paths), and only config_finish calls this */
	static struct sandbox_paths paths;
	const char *why;

	if (cfg->sandbox_mail_root[0] == '\0')
		return 0;
	memset(&paths, 0, sizeof(paths));
	why = config_sandbox_mail_roots(cfg, &paths);
	/* room for node_heartbeat_dir, index_dir and the spool */
	if (why == NULL && paths.nrw <= SANDBOX_PATHS_MAX - 3)
		return 0;
	snprintf(err, errsize, "sandbox_mail_root: absolute directories, at "
		 "most %d", SANDBOX_PATHS_MAX - 3);
	return -1;
}

int config_agents(const struct config *cfg, uid_t mail_uid, gid_t mail_gid,
		  struct sysspawn_agents *agents, char *err, size_t errsize)
{
	struct sandbox_settings *sb = &agents->sandbox;

	memset(agents, 0, sizeof(*agents));
	agents->per_user = cfg->mail_process == MAIL_PROCESS_PER_USER;
	/* a proxy holds no maildrop: its backends do */
	agents->on = !cfg->proxy &&
		     (agents->per_user ||
		      userdb_spec_has(cfg->auth.users, "pam"));
	agents->mail_uid = mail_uid;
	agents->mail_gid = mail_gid;
	agents->first_valid_uid = cfg->auth.first_valid_uid;
	agents->lock_stale_secs = cfg->lock_stale_timeout;
	agents->store_marker = cfg->mail_store_marker;
	agents->index_dir = cfg->index_dir;
	sb->on = cfg->sandbox;
	sb->seccomp = cfg->sandbox_seccomp;
	sb->landlock = cfg->sandbox_landlock;
	/* the maildrop itself is added by each agent (sysspawn_agent.c) */
	if (add(&sb->paths, true, cfg->node_heartbeat_dir, err, errsize) < 0 ||
	    add(&sb->paths, true, cfg->index_dir, err, errsize) < 0 ||
	    add(&sb->paths, false, cfg->mail_store_marker, err, errsize) < 0)
		return -1;
	return 0;
}
