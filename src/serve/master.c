/* master.c: `satchel serve` (see master.h): the command line, the checks
 * and set-up done as root before anything starts (accounts, state_dir,
 * TLS keys, listeners, daemonizing), then the process tree of
 * supervise.c, or one session on stdin/stdout (--stdio). */
#include "serve/master.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config/config.h"
#include "net/tls.h"
#include "serve/connlimit.h"
#include "serve/faildelay.h"
#include "serve/xmitrate.h"
#include "serve/metrics.h"
#include "serve/session_proxy.h"
#include "serve/stdio.h"
#include "serve/supervise.h"
#include "store/delivery_stats.h"
#include "store/node.h"
#include "util/log.h"
#include "util/pidfile.h"
#include "util/privdrop.h"
#include "util/shmem.h"

#define DEFAULT_CONFIG "/etc/satchel/satchel.conf"

/* deliver/'s LMTP worker entry, set by main.c (serve/ cannot include
 * deliver/: front ends never include each other). */
static lmtp_worker_run_fn *master_lmtp_run;

void master_set_lmtp_worker(lmtp_worker_run_fn *run)
{
	master_lmtp_run = run;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: satchel serve [-c FILE] [-o key=value]... "
		"[--foreground] [--check] [--stdio]\n");
}

static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(EX_OK);
	if (setsid() < 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return chdir("/");
}

/* DESIGN.md: secrets live only in the auth process. With its own account
 * the passwd-file can be unreadable to the workers (mail_user). A missing
 * default account falls back to mail_user, said loudly; a missing
 * account named in the config is an error. */
static int resolve_auth_user(const struct config *cfg,
			     const struct privdrop *mail_priv,
			     struct privdrop *auth_priv, char *err,
			     size_t errsize)
{
	if (cfg->auth_user[0] == '\0' ||
	    strcmp(cfg->auth_user, cfg->mail_user) == 0) {
		*auth_priv = *mail_priv;
		return 0;
	}
	if (geteuid() == 0 && getpwnam(cfg->auth_user) == NULL &&
	    strcmp(cfg->auth_user, "satchel-auth") == 0) {
		log_warn("auth_user satchel-auth does not exist (make install "
			 "creates it): the auth process runs as %s, which "
			 "must then be able to read the passwd-file",
			 cfg->mail_user);
		*auth_priv = *mail_priv;
		return 0;
	}
	return privdrop_resolve(cfg->auth_user, auth_priv, err, errsize);
}

/* A second `satchel serve` with the same pid_file stops before it
 * binds anything, with the running one's pid. true when it may go on. */
static bool pid_file_free(const struct config *cfg)
{
	char err[1200];
	pid_t pid;

	if (cfg->pid_file[0] == '\0' ||
	    pidfile_read(cfg->pid_file, &pid, err, sizeof(err)) != PIDFILE_OK)
		return true;
	log_error("another satchel serve is running: pid %ld holds %s",
		  (long)pid, cfg->pid_file);
	return false;
}

/* After daemonizing (the pid is the master's for good). 0, or -1 with
 * the reason logged (also when another instance won a race to it). */
static int make_pid_file(struct master *m, const struct config *cfg)
{
	char err[1200];
	pid_t holder;

	m->pidfile.fd = -1;
	if (cfg->pid_file[0] == '\0')
		return 0;
	switch (pidfile_create(cfg->pid_file, &m->pidfile, &holder, err,
			       sizeof(err))) {
	case PIDFILE_OK:
		return 0;
	case PIDFILE_RUNNING:
		log_error("another satchel serve is running: pid %ld holds %s",
			  (long)holder, cfg->pid_file);
		return -1;
	case PIDFILE_ERROR:
		break;
	}
	log_error("pid_file: %s", err);
	return -1;
}

static void make_state_dir(const struct config *cfg,
			   const struct privdrop *priv)
{
	if (cfg->auth.state_dir[0] == '\0')
		return;
	if (mkdir(cfg->auth.state_dir, 0700) < 0 && errno != EEXIST) {
		log_warn("state_dir %s: %s (last-login times will not "
			 "persist)", cfg->auth.state_dir, strerror(errno));
		return;
	}
	if (priv->active && chown(cfg->auth.state_dir, priv->uid, priv->gid) < 0)
		log_warn("state_dir %s: chown: %s", cfg->auth.state_dir,
			 strerror(errno));
}

/* This node (store/node.h), before any child forks, and its first
 * heartbeat before any session can take a lock. Node settings are read
 * at start only: a reload keeps them. */
static int start_node(const struct config *cfg, struct master *m)
{
	struct node_settings set = {
		.node_id = cfg->node_id,
		.heartbeat_dir = cfg->node_heartbeat_dir,
		.heartbeat_pgsql = cfg->node_heartbeat_pgsql,
		.heartbeat_timeout = cfg->node_heartbeat_timeout,
		.beats = true,
	};
	const char *error = "";

	if (node_init(&set, &error) < 0 || node_heartbeat_beat(&error) < 0) {
		log_error("node: %s", error);
		return -1;
	}
	if (node_heartbeats_enabled())
		log_info("node %s: heartbeat in %s every %u ms, dead after "
			 "%u s", node_id(),
			 cfg->node_heartbeat_pgsql[0] != '\0' ?
			 "PostgreSQL (satchel_node_heartbeats)" :
			 cfg->node_heartbeat_dir,
			 node_beat_interval_ms(), cfg->node_heartbeat_timeout);
	m->beat_failing = false;
	return 0;
}

int master_main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "foreground", no_argument, NULL, 'F' },
		{ "check", no_argument, NULL, 'C' },
		{ "stdio", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct master m = { .config_path = DEFAULT_CONFIG,
			    .lmtp_run = master_lmtp_run,
			    .pidfile = { .fd = -1 }, .signal_fd = -1 };
	struct config *cfg;
	struct generation first = { 0 };
	bool foreground = false, check = false, stdio = false;
	enum log_level level;
	const char *log_err = NULL;
	char err[512];
	sigset_t mask;
	struct rlimit rl;
	int opt, gi, ret = EX_OK;

	m.overrides = calloc((size_t)argc, sizeof(char *));
	cfg = malloc(sizeof(*cfg));
	if (m.overrides == NULL || cfg == NULL) {
		ret = EX_OSERR;
		goto out;
	}
	while ((opt = getopt_long(argc, argv, "c:o:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			m.config_path = optarg;
			m.config_given = true;
			break;
		case 'o':
			m.overrides[m.noverrides++] = optarg;
			break;
		case 'F':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'S':
			stdio = true;
			break;
		case 'h':
			usage();
			ret = EX_OK;
			goto out;
		default:
			usage();
			ret = EX_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		usage();
		ret = EX_USAGE;
		goto out;
	}
	if (supervise_load_config(&m, cfg, err, sizeof(err)) < 0 ||
	    supervise_check_config(&m, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel: %s\n", err);
		ret = EX_CONFIG;
		goto out;
	}
	if (check) {
		config_warn(cfg);
		config_print(cfg, stdout);
		ret = EX_OK;
		goto out;
	}
	if (stdio)
		stdio_log_guard(cfg);
	(void)log_level_parse(cfg->log_level, &level);
	if (log_init(cfg->log, level, &log_err) < 0) {
		fprintf(stderr, "satchel: log %s: %s\n", cfg->log, log_err);
		ret = EX_CANTCREAT;
		goto out;
	}
	log_set_role("master");
	config_warn(cfg);
	if (privdrop_resolve(cfg->mail_user, &m.priv, err, sizeof(err)) < 0 ||
	    resolve_auth_user(cfg, &m.priv, &m.auth_priv, err,
			      sizeof(err)) < 0) {
		log_error("%s", err);
		ret = EX_CONFIG;
		goto out;
	}
	memset(&first, 0, sizeof(first));
	supervise_key_init(&first);
	for (int i = 0; i < MAX_SLOTS; i++) {
		m.slots[i].gen = -1;
		m.slots[i].ready_fd = -1;
	}
	if (stdio) {
		/* One session on stdin/stdout instead of listeners: no
		 * workers, so the key is loaded here (docs/security.md). */
		if (tls_ctx_create(&cfg->tls, &first.tls, err,
				   sizeof(err)) < 0) {
			log_error("%s", err);
			ret = EX_CONFIG;
			goto out;
		}
		make_state_dir(cfg, &m.auth_priv);
		ret = stdio_run(cfg, first.tls, &m.priv, &m.auth_priv);
		goto out;
	}
	/* The key is checked by a key process now, to fail before
	 * daemonizing; the generation's own starts with it. */
	if (supervise_key_prepare(&m, cfg, &first, false, err,
				  sizeof(err)) < 0) {
		log_error("%s", err);
		ret = EX_CONFIG;
		goto out;
	}
	if (!pid_file_free(cfg)) {
		ret = EX_UNAVAILABLE;
		goto out;
	}
	/* systemd socket activation: before anything is bound */
	if (sdlisten_collect(&m.inherited, err, sizeof(err)) < 0) {
		log_error("%s", err);
		ret = EX_OSERR;
		goto out;
	}
	if (supervise_bind_first(&m, cfg, &first, err, sizeof(err)) < 0) {
		log_error("%s", err);
		ret = EX_OSERR;
		goto out;
	}
	make_state_dir(cfg, &m.auth_priv);
	if (start_node(cfg, &m) < 0) {
		ret = EX_CONFIG;
		goto out;
	}
	m.connlimit = connlimit_create(MAX_SLOTS);
	m.faildelay = faildelay_create();
	m.xmitrate = xmitrate_create();
	m.proxy_capa = shmem_create(sizeof(*m.proxy_capa));
	m.metrics = metrics_create(MAX_SLOTS);
	m.deliveries = delivery_stats_create(MAX_SLOTS);
	if (m.connlimit == NULL || m.faildelay == NULL || m.metrics == NULL ||
	    m.xmitrate == NULL || m.deliveries == NULL ||
	    m.proxy_capa == NULL) {
		log_error("shared memory: %s", strerror(errno));
		ret = EX_OSERR;
		goto out;
	}
	if (supervise_metrics_start(&m, cfg, err, sizeof(err)) < 0) {
		log_error("metrics_listen: %s", err);
		supervise_close_listeners(&first);
		ret = EX_OSERR;
		goto out;
	}
	if (sdlisten_close_unused(&m.inherited, err, sizeof(err)) > 0)
		log_warn("systemd passed sockets no listener is configured "
			 "for, closed: %s", err);
	/* Thousands of clients per worker need as many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!foreground && daemonize() < 0) {
		log_error("daemonize: %s", strerror(errno));
		ret = EX_OSERR;
		goto out;
	}
	if (make_pid_file(&m, cfg) < 0) {
		supervise_close_listeners(&first);
		ret = EX_UNAVAILABLE;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	m.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m.signal_fd < 0) {
		log_error("signalfd: %s", strerror(errno));
		ret = EX_OSERR;
		goto out;
	}
	for (size_t i = 0; i < first.nlisteners; i++)
		log_info("listening on %s%s", first.listeners[i].name,
			 first.listeners[i].inherited ?
			 " (socket from systemd)" : "");
	for (size_t i = 0; i < first.nlmtp_listeners; i++)
		log_info("listening for LMTP on %s%s",
			 first.lmtp_listeners[i].name,
			 first.lmtp_listeners[i].inherited ?
			 " (socket from systemd)" : "");
	gi = supervise_start_generation(&m, cfg, &first);
	if (gi < 0) {
		supervise_close_listeners(&first);
		ret = EX_OSERR;
		goto out;
	}
	m.current = gi;
	cfg = NULL; /* owned by the generation now, like first.tls */
	first.tls = NULL;
	supervise_key_init(&first); /* its descriptors are the generation's */
	ret = supervise_loop(&m);
	supervise_metrics_stop(&m);
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (m.gens[i].used) {
			free(m.gens[i].cfg);
			tls_ctx_destroy(&m.gens[i].tls);
			supervise_key_close(&m.gens[i]);
		}
	}
out:
	pidfile_remove(&m.pidfile);
	tls_ctx_destroy(&first.tls);
	supervise_key_close(&first);
	free(cfg);
	free(m.overrides);
	return ret;
}
