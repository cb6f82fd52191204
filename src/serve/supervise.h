/* supervise.h: the master's process tree (private to src/serve): the
 * generations of one auth process, N POP3 workers and L LMTP workers,
 * their start, restart, readiness, reload and shutdown. master.c parses
 * the command line and sets the tree up; supervise_bind.c loads the
 * config and binds the listeners; supervise.c runs the tree. */
#ifndef SATCHEL_SUPERVISE_H
#define SATCHEL_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config/config.h"
#include "config/worker_setup.h"
#include "net/keyproto.h"
#include "net/listener.h"
#include "net/sdlisten.h"
#include "serve/limits.h"
#include "util/pidfile.h"
#include "util/privdrop.h"
#include "util/sandbox.h"

struct tls_ctx;
struct connlimit;
struct faildelay;
struct xmitrate;
struct metrics;
struct metrics_http;
struct ioloop;

/* Two generations of the most POP3 and LMTP workers: a reload while one
 * drains. (The auth process has room for AUTH_SLOTS_MAX.) */
#define MAX_SLOTS (2 * 2 * CONFIG_WORKERS_MAX)

struct generation {
	bool used;
	bool draining;
	bool announced;     /* its "ready" line was logged */
	unsigned number;    /* 1 for the first, counting reloads/restarts */
	unsigned nworkers;  /* cfg->workers when it started */
	unsigned nlmtp;     /* LMTP workers: cfg->lmtp_workers, or 0 */
	struct config *cfg;
	struct tls_ctx *tls;
	/* the key process holding tls_key (supervise_key.c); without TLS,
	 * key_pid 0 and every descriptor -1 */
	pid_t key_pid;
	int key_file_fd;    /* tls_key, opened as root, read by the key
			       process: each restart loads the same key */
	int key_ctl_fd;     /* ours: its hello, then EOF tells it to go */
	int key_conn[2];    /* [0] the key process's end, [1] the workers' */
	time_t key_started;
	time_t key_restart_at; /* pending restart after a crash (0: none) */
	uint8_t key_id[KEYPROTO_ID_LEN]; /* of tls_cert's key */
	pid_t auth_pid;
	int control_fd;
	struct listener listeners[LISTENER_MAX];   /* POP3 workers' */
	size_t nlisteners;
	struct listener lmtp_listeners[LISTENER_LMTP_MAX]; /* LMTP workers' */
	size_t nlmtp_listeners;
};

struct slot {
	pid_t pid;
	int gen;            /* index into generations, -1 when free */
	time_t started;
	time_t restart_at;  /* pending restart after a crash (0: none) */
	int ready_fd;       /* read end: the worker writes once listening */
	bool ready;
	bool lmtp;          /* an LMTP worker (else POP3) */
};


struct master {
	const char *config_path;
	bool config_given;
	char **overrides;
	int noverrides;
	struct privdrop priv;       /* workers: mail_user */
	struct privdrop auth_priv;  /* the auth process: auth_user */
	lmtp_worker_run_fn *lmtp_run; /* deliver/'s, from main.c; NULL: none */
	struct connlimit *connlimit;
	struct faildelay *faildelay;
	struct xmitrate *xmitrate;
	struct proxy_capa_table *proxy_capa; /* proxy mode's CAPA learning */
	struct metrics *metrics;    /* the workers' counters */
	struct delivery_stats *deliveries; /* the LMTP workers' */
	/* the metrics endpoint (supervise_metrics.c) on a loop the
	 * supervise loop polls; both NULL without metrics_listen */
	struct ioloop *loop;
	struct metrics_http *http;
	char metrics_listen[CONFIG_STR_MAX]; /* what http listens on */
	struct pidfile pidfile;     /* fd -1 without pid_file */
	/* sockets from systemd (LISTEN_FDS), taken by the first binds */
	struct sdlisten inherited;
	int signal_fd;
	int current;        /* index of the newest generation */
	struct generation gens[MAX_GENERATIONS];
	struct slot slots[MAX_SLOTS];
	unsigned generations_started;
	bool stopping;
	uint64_t next_beat_ms;  /* CLOCK_MONOTONIC: the node's next heartbeat */
	bool beat_failing;      /* logged once per run of failed beats */
	bool sandbox_logged[SANDBOX_KINDS]; /* its one log line is out */
};

/* Defaults, then the config file (if given or present), then the -o
 * overrides, then the cross-key checks. 0, or -1 with err. */
int supervise_load_config(struct master *m, struct config *cfg, char *err,
			  size_t errsize);
/* Binds cfg's listen and listen_tls addresses into g, and its
 * lmtp_listen ones into g's lmtp_listeners; an LMTP address old (the
 * running generation, or NULL) already listens on is duplicated instead,
 * so a reload keeps the socket (a unix: path cannot be bound twice).
 * 0, or -1 with err (nothing left open). */
int supervise_bind(const struct config *cfg, struct generation *g,
		   const struct generation *old, char *err, size_t errsize);
/* The first generation's: an address systemd passed a socket for
 * (m->inherited) is served on it, not bound. 0, or -1 with err. */
int supervise_bind_first(struct master *m, const struct config *cfg,
			 struct generation *g, char *err, size_t errsize);
/* Refuses what the master cannot or must not run: lmtp_listen without an
 * LMTP entry point; a non-loopback lmtp_listen address without tls_cert
 * unless lmtp_allow_insecure_remote. 0, or -1 with err. */
int supervise_check_config(const struct master *m, const struct config *cfg,
			   char *err, size_t errsize);
/* Starts auth + workers for cfg (owned by the generation afterwards)
 * with the listeners and tls of bound (taken over: bound's are the
 * generation's now). Returns the generation index or -1 (bound's are
 * still the caller's). */
int supervise_start_generation(struct master *m, struct config *cfg,
			       struct generation *bound);
/* Closes g's POP3 and LMTP listeners. */
void supervise_close_listeners(struct generation *g);
/* supervise_metrics.c: binds cfg's metrics_listen (as root, before
 * the privilege drops) and serves GET /metrics from m's counters on
 * m->loop. Nothing to do without metrics_listen. 0, or -1 with err. */
int supervise_metrics_start(struct master *m, const struct config *cfg,
			    char *err, size_t errsize);
/* A reload cannot move the endpoint: says so when cfg asks to. */
void supervise_metrics_reload(const struct master *m,
			      const struct config *cfg);
void supervise_metrics_stop(struct master *m);
/* In a forked child: closes the endpoint's and the loop's descriptors. */
void supervise_metrics_close_in_child(struct master *m);

/* In a forked child (supervise.c): closes what only the master keeps
 * (signalfd, pid file, metrics, control sockets, ready pipes, every
 * generation's key descriptors but those of own that role keeps). */
enum supervise_child { CHILD_AUTH, CHILD_WORKER, CHILD_KEY };
void supervise_child_close_inherited(struct master *m,
				     const struct generation *own,
				     enum supervise_child role);
void supervise_child_unblock_signals(void);
/* Exits unless the master (pid master) is still our parent. */
void supervise_child_die_with(pid_t master);
/* sandbox_apply for kind, once logged per kind; exits on failure. */
void supervise_child_sandbox(const struct master *m, const struct config *cfg,
			     enum sandbox_kind kind);

/* supervise_key.c: g's TLS context for cfg, its private key in a key
 * process: the certificate loaded, tls_key opened (as root), a key
 * process started that loads it and says its id, which must be the
 * certificate's. keep: that key process stays g's; else it is stopped
 * (before daemonizing: supervise_key_start starts g's own later).
 * Nothing to do without tls_cert. 0, or -1 with err (nothing left). */
int supervise_key_prepare(struct master *m, const struct config *cfg,
			  struct generation *g, bool keep, char *err,
			  size_t errsize);
/* Starts g's key process and waits for its hello (bounded). 0, or -1
 * with err. */
int supervise_key_start(struct master *m, struct generation *g, char *err,
			size_t errsize);
/* Closes g's end of the control socket: its key process exits. */
void supervise_key_stop(struct generation *g);
/* Closes every key descriptor of g (the generation is done). */
void supervise_key_close(struct generation *g);
/* Marks g as having no key process and no descriptors. */
void supervise_key_init(struct generation *g);

/* Supervises until SIGTERM/SIGINT and every child is gone. Returns a
 * sysexits status. */
int supervise_loop(struct master *m);

#endif
