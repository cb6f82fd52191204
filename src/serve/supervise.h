/* supervise.h: the master's process tree (private to src/serve): the
 * generations of one auth process and N workers, their start, restart,
 * readiness, reload and shutdown. master.c parses the command line and
 * sets the tree up; supervise.c runs it. */
#ifndef SATCHEL_SUPERVISE_H
#define SATCHEL_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config/config.h"
#include "net/listener.h"
#include "serve/limits.h"
#include "util/privdrop.h"

struct tls_ctx;
struct connlimit;
struct faildelay;

/* Two generations of the most workers: a reload while one drains. */
#define MAX_SLOTS (2 * CONFIG_WORKERS_MAX)

struct generation {
	bool used;
	bool draining;
	bool announced;     /* its "ready" line was logged */
	unsigned number;    /* 1 for the first, counting reloads/restarts */
	unsigned nworkers;  /* cfg->workers when it started */
	struct config *cfg;
	struct tls_ctx *tls;
	pid_t auth_pid;
	int control_fd;
	struct listener listeners[LISTENER_MAX];
	size_t nlisteners;
};

struct slot {
	pid_t pid;
	int gen;            /* index into generations, -1 when free */
	time_t started;
	time_t restart_at;  /* pending restart after a crash (0: none) */
	int ready_fd;       /* read end: the worker writes once listening */
	bool ready;
};

struct master {
	const char *config_path;
	bool config_given;
	char **overrides;
	int noverrides;
	struct privdrop priv;       /* workers: mail_user */
	struct privdrop auth_priv;  /* the auth process: auth_user */
	struct connlimit *connlimit;
	struct faildelay *faildelay;
	int signal_fd;
	int current;        /* index of the newest generation */
	struct generation gens[MAX_GENERATIONS];
	struct slot slots[MAX_SLOTS];
	unsigned generations_started;
	bool stopping;
};

/* Defaults, then the config file (if given or present), then the -o
 * overrides, then the cross-key checks. 0, or -1 with err. */
int supervise_load_config(struct master *m, struct config *cfg, char *err,
			  size_t errsize);
/* Binds cfg's listen and listen_tls addresses into g. 0, or -1 with err
 * (nothing left open). */
int supervise_bind(const struct config *cfg, struct generation *g,
		   char *err, size_t errsize);
/* Starts auth + workers for cfg (owned by the generation afterwards)
 * with already bound listeners. Returns the generation index or -1. */
int supervise_start_generation(struct master *m, struct config *cfg,
			       struct tls_ctx *tls, struct listener *listeners,
			       size_t nlisteners);
/* Supervises until SIGTERM/SIGINT and every child is gone. Returns a
 * sysexits status. */
int supervise_loop(struct master *m);

#endif
