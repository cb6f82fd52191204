/* control.c: `satchel reload` and `satchel stop` (see control.h), and
 * what all three commands share: the command line, the config, the pid. */
#include "serve/control.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "config/config.h"
#include "util/pidfile.h"
#include "util/strnum.h"

/* How long `satchel stop` waits by default: the master kills what is
 * left after SHUTDOWN_GRACE_SECS (10 s), so this covers it with room. */
#define CONTROL_STOP_WAIT_SECS 30

static void control_usage(FILE *out, const char *name)
{
	fprintf(out, "usage: satchel %s [-c FILE]%s\n", name,
		strcmp(name, "stop") == 0 ? " [--timeout SECONDS]" : "");
}

int control_setup(const char *name, int argc, char **argv,
		  struct config *cfg, pid_t *pid_r, unsigned *timeout_r)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL;
	char err[1200];
	uint64_t secs;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 't':
			if (timeout_r == NULL ||
			    strnum_parse_u64(optarg, 86400, &secs) < 0 ||
			    secs == 0) {
				fprintf(stderr, "satchel %s: --timeout: "
					"seconds, 1 to 86400\n", name);
				return EX_USAGE;
			}
			*timeout_r = (unsigned)secs;
			break;
		case 'h':
			control_usage(stdout, name);
			return -1;
		default:
			control_usage(stderr, name);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		control_usage(stderr, name);
		return EX_USAGE;
	}
	if (config_load(cfg, cfg_path != NULL ? cfg_path : CONFIG_DEFAULT_PATH,
			cfg_path != NULL, NULL, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel %s: %s\n", name, err);
		return EX_CONFIG;
	}
	if (cfg->pid_file[0] == '\0') {
		fprintf(stderr, "satchel %s: pid_file is not set in the "
			"config: the running server cannot be found\n", name);
		return EX_CONFIG;
	}
	if (pidfile_read(cfg->pid_file, pid_r, err, sizeof(err)) !=
	    PIDFILE_OK) {
		fprintf(stderr, "satchel %s: not running: %s\n", name, err);
		return strcmp(name, "status") == 0 ? CONTROL_NOT_RUNNING :
		       EX_UNAVAILABLE;
	}
	return EX_OK;
}

/* What a command does once the server is found: a sysexits status. */
typedef int control_action(const char *name, const struct config *cfg,
			   pid_t pid, unsigned timeout);

/* The command line, the config and the pid, then act. */
static int control_run(const char *name, int argc, char **argv,
		       control_action *act)
{
	struct config *cfg = malloc(sizeof(*cfg));
	unsigned timeout = CONTROL_STOP_WAIT_SECS;
	pid_t pid;
	int ret;

	if (cfg == NULL)
		return EX_OSERR;
	ret = control_setup(name, argc, argv, cfg, &pid,
			    strcmp(name, "stop") == 0 ? &timeout : NULL);
	if (ret == EX_OK)
		ret = act(name, cfg, pid, timeout);
	free(cfg);
	/* -1 from control_setup: --help was answered */
	return ret < 0 ? EX_OK : ret;
}

/* kill(2) with the error said for a person. */
static int control_signal(const char *name, pid_t pid, int sig)
{
	if (kill(pid, sig) == 0)
		return EX_OK;
	fprintf(stderr, "satchel %s: pid %ld: %s\n", name, (long)pid,
		strerror(errno));
	return errno == EPERM ? EX_NOPERM : EX_UNAVAILABLE;
}

static int do_reload(const char *name, const struct config *cfg, pid_t pid,
		     unsigned timeout)
{
	int ret = control_signal(name, pid, SIGHUP);

	/* the master checks the new config itself; its log says how it went */
	if (ret == EX_OK)
		printf("satchel reload: SIGHUP sent to pid %ld; the log says "
		       "\"configuration reloaded\" or why not\n", (long)pid);
	return ret;
}

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int do_stop(const char *name, const struct config *cfg, pid_t pid,
		   unsigned timeout)
{
	double deadline = now_secs() + timeout;
	int ret = control_signal(name, pid, SIGTERM);

	if (ret != EX_OK)
		return ret;
	/* The master holds the pid file's lock until it exits (also as a
	 * zombie nobody reaps, where kill(pid, 0) would still succeed). */
	while (pidfile_locked(cfg->pid_file)) {
		if (now_secs() >= deadline) {
			fprintf(stderr, "satchel stop: pid %ld still running "
				"after %u s\n", (long)pid, timeout);
			return EX_TEMPFAIL;
		}
		(void)poll(NULL, 0, 50);
	}
	printf("satchel stop: pid %ld stopped\n", (long)pid);
	return EX_OK;
}

static int do_status(const char *name, const struct config *cfg, pid_t pid,
		     unsigned timeout)
{
	printf("satchel serve is running: pid %ld (%s)\n", (long)pid,
	       cfg->pid_file);
	if (cfg->metrics_listen[0] == '\0') {
		printf("metrics_listen is not set: no counters to show\n");
		return EX_OK;
	}
	return control_print_metrics(cfg->metrics_listen);
}

int control_reload_main(int argc, char **argv)
{
	return control_run("reload", argc, argv, do_reload);
}

int control_stop_main(int argc, char **argv)
{
	return control_run("stop", argc, argv, do_stop);
}

int control_status_main(int argc, char **argv)
{
	return control_run("status", argc, argv, do_status);
}
