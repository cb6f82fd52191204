/* deliver_main.c: `satchel deliver` (deliver_main, lmtp.h), the local
 * delivery agent for Postfix mailbox_command / pipe and Exim pipe
 * transports, with dovecot-lda's flags.
 *
 * Exit codes (sysexits): 0 delivered; 67 unknown user; 75 for every
 * temporary failure, configuration errors included (75 is the one code
 * every MTA retries); 77 permanent; 64 usage. Never 73, 74 or 78, which
 * Postfix bounces. The first line on stderr is always an enhanced status
 * code and a text ("4.2.2 mailbox full"); on success nothing is
 * printed. stderr carries nothing else: with log = stderr the log goes
 * to syslog (the MTA quotes the LDA's output in its bounces).
 *
 * The work runs in a forked child; the parent waits with its own
 * deadline (delivery_deadline), kills the child when it passes, and
 * turns any abnormal end of the child (a signal, an unexpected status)
 * into 75 with a "4.3.0" line: Exim bounces an LDA killed by a signal.
 * The child never writes as root: it drops to the user's uid/gid from
 * the user record, or to mail_user when the record has none. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_userdb.h"
#include "config/config.h"
#include "config/config_sandbox.h"
#include "deliver/deliver_log.h"
#include "deliver/lmtp.h"
#include "deliver/lmtp_limits.h"
#include "util/log.h"
#include "util/privdrop.h"

struct deliver_args {
	const char *config_path;
	bool config_given;
	const char *sender;        /* -f, NULL: from the From line */
	const char *orig_rcpt;     /* -a */
	const char *final_rcpt;    /* -r, NULL: the -d user */
	const char *user;          /* -d */
	char **overrides;
	int noverrides;
};

/* The status line: the first (and only) line on stderr. Returns
 * status, for `return say(...)`. */
static int say(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int say(int status, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputc('\n', stderr);
	fflush(stderr);
	return status;
}

static int delivery_exit(const struct delivery_result *res)
{
	if (res->status == DELIVERY_OK)
		return EX_OK;
	return say(res->status == DELIVERY_TEMP ? EX_TEMPFAIL : EX_NOPERM,
		   "%s %s", res->enhanced != NULL ? res->enhanced :
		   res->status == DELIVERY_TEMP ? "4.3.0" : "5.3.0",
		   res->text != NULL ? res->text : "delivery failed");
}

/* --- the child --- */

/* Never as root (issue 8, 8.): the user's ids from its record, else
 * mail_user. Not root: nothing to change. */
static int deliver_drop(const struct config *cfg,
			const struct auth_reply *rec)
{
	struct privdrop pd = { 0 };
	char err[256];

	if (geteuid() != 0)
		return 0;
	if (rec->uid > 0 && rec->gid > 0) {
		pd.active = true;
		pd.uid = (uid_t)rec->uid;
		pd.gid = (gid_t)rec->gid;
		snprintf(pd.name, sizeof(pd.name), "%.63s", rec->user);
	} else if (privdrop_resolve(cfg->mail_user, &pd, err,
				    sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (privdrop_apply(&pd, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* After the drop and the lookup (the user database is closed): only
 * this user's maildrop is reachable. Silent when it works: one line per
 * message would flood the log. */
static int deliver_sandbox(const struct config *cfg,
			   const struct auth_reply *rec)
{
	static struct sandbox_settings set; /* big: the paths */
	char err[512];

	if (config_sandbox_deliver(cfg, rec->mail_path,
				   rec->mail_kind == MAILDROP_MBOX, &set, err,
				   sizeof(err)) < 0 ||
	    sandbox_apply(&set, SANDBOX_DELIVER, false, err,
			  sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

static int deliver_spool_stdin(struct delivery_spool *spool)
{
	static char buf[LMTP_INPUT_BUF];
	const char *error;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return say(EX_TEMPFAIL, "4.3.0 cannot read the "
				   "message: %s", strerror(errno));
		if (n == 0)
			return EX_OK;
		if (delivery_spool_write(spool, buf, (size_t)n, &error) < 0)
			return say(EX_TEMPFAIL, "4.3.0 cannot spool the "
				   "message: %s", error);
	}
}

static int deliver_child(const struct config *cfg,
			 const struct deliver_args *a)
{
	struct delivery_settings dset = {
		.mboxrd = cfg->mbox_rd,
		.nul_refuse = cfg->delivery_refuse_nul,
		.quota_permanent = cfg->quota_permanent,
		.dedup_days = cfg->delivery_dedup_days,
		/* the store's own waits end before the parent's kill */
		.deadline_secs = cfg->delivery_deadline * 9 / 10,
		.hostname = cfg->hostname[0] != '\0' ? cfg->hostname : NULL,
		.store_marker = cfg->mail_store_marker,
	};
	struct delivery_envelope env = {
		.sender = a->sender, .orig_rcpt = a->orig_rcpt,
		.single_recipient = true,
	};
	struct delivery_result res = { 0 };
	struct delivery_target target = { 0 };
	struct delivery_spool *spool = NULL;
	struct userdb *db = NULL;
	struct auth_reply *rec;
	const char *error = NULL;
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rec = calloc(1, sizeof(*rec));
	if (rec == NULL)
		return say(EX_TEMPFAIL, "4.3.0 out of memory");
	/* opened as the caller (maybe root): the file may be private */
	if (userdb_open(&cfg->auth, &db, &error) < 0)
		log_error("user database not opened: %s", error);
	error = NULL;
	switch (auth_userdb_lookup(&cfg->auth, db, a->user, rec, &error)) {
	case AUTH_OK:
		break;
	case AUTH_FAILED:
		ret = say(EX_NOUSER, "5.1.1 %s: no such user", a->user);
		goto out;
	default:
		/* a database that is down and a bad user record (an
		 * admin's mistake) are temporary: no mail bounces */
		log_error("user lookup of %s: %s", a->user,
			  error != NULL ? error : "failed");
		ret = say(EX_TEMPFAIL, "4.3.0 user lookup failed: %s",
			  error != NULL ? error : "unknown error");
		goto out;
	}
	userdb_close(&db);
	if (deliver_drop(cfg, rec) < 0) {
		ret = say(EX_TEMPFAIL, "4.3.0 cannot drop privileges");
		goto out;
	}
	if (deliver_sandbox(cfg, rec) < 0) {
		ret = say(EX_TEMPFAIL, "4.3.0 cannot apply the sandbox");
		goto out;
	}
	if (delivery_spool_create(&dset, &spool, &error) < 0) {
		ret = say(EX_TEMPFAIL, "4.3.0 cannot spool the message: %s",
			  error);
		goto out;
	}
	ret = deliver_spool_stdin(spool);
	if (ret != EX_OK)
		goto out;
	if (delivery_spool_finish(spool, &env, &res) < 0) {
		if (res.status == DELIVERY_OK)
			res.status = DELIVERY_TEMP;
		ret = delivery_exit(&res);
		goto out_log;
	}
	target.user = rec->user;
	target.rcpt = a->final_rcpt != NULL ? a->final_rcpt : a->user;
	target.kind = rec->mail_kind == MAILDROP_MBOX ? MAILDROP_MBOX :
		      MAILDROP_MAILDIR;
	target.path = rec->mail_path;
	target.quota_bytes = rec->quota_bytes >= 0 ?
		(uint64_t)rec->quota_bytes : cfg->quota_bytes;
	target.quota_messages = rec->quota_messages >= 0 ?
		(uint64_t)rec->quota_messages : cfg->quota_messages;
	(void)delivery_store(spool, &target, &res);
	ret = delivery_exit(&res);
out_log:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		struct deliver_log_entry e = {
			.sender = a->sender != NULL ? a->sender : "",
			.rcpt = a->final_rcpt != NULL ? a->final_rcpt :
				a->user,
			.user = rec->user,
			.message_id = delivery_spool_message_id(spool),
			.res = &res,
			.seconds = (double)(t1.tv_sec - t0.tv_sec) +
				   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		};

		deliver_log_result(&e);
	}
out:
	delivery_spool_destroy(&spool);
	userdb_close(&db);
	free(rec);
	return ret;
}

/* --- the parent --- */

/* Waits for the child until deadline_secs have passed; kills it then.
 * Maps its end to the exit status (and prints the line it could not). */
static int deliver_wait(pid_t child, unsigned deadline_secs)
{
	struct timespec now, end, left;
	siginfo_t info;
	sigset_t mask;
	int status;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += deadline_secs;
	for (;;) {
		pid_t pid = waitpid(child, &status, WNOHANG);

		if (pid == child)
			break;
		if (pid < 0 && errno != EINTR) {
			(void)kill(child, SIGKILL);
			return say(EX_TEMPFAIL, "4.3.0 lost the delivery "
				   "process: %s", strerror(errno));
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec &&
						now.tv_nsec >= end.tv_nsec)) {
			(void)kill(child, SIGKILL);
			while (waitpid(child, &status, 0) < 0 && errno == EINTR)
				;
			return say(EX_TEMPFAIL, "4.3.0 delivery took longer "
				   "than %u s, deferred", deadline_secs);
		}
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		(void)sigtimedwait(&mask, &info, &left);
	}
	if (WIFSIGNALED(status))
		return say(EX_TEMPFAIL, "4.3.0 delivery process killed by "
			   "signal %d", WTERMSIG(status));
	if (!WIFEXITED(status))
		return say(EX_TEMPFAIL, "4.3.0 delivery process ended "
			   "abnormally");
	switch (WEXITSTATUS(status)) {
	case EX_OK:
	case EX_USAGE:
	case EX_NOUSER:
	case EX_TEMPFAIL:
	case EX_NOPERM:
		return WEXITSTATUS(status);
	default:
		return say(EX_TEMPFAIL, "4.3.0 delivery process exited with "
			   "status %d", WEXITSTATUS(status));
	}
}

static int deliver_usage(void)
{
	return say(EX_USAGE, "5.5.4 usage: satchel deliver [-c FILE] "
		   "[-f SENDER] [-a ORIGINAL_RCPT] [-r FINAL_RCPT] -d USER "
		   "[-o key=value]... < message");
}

static int deliver_parse(int argc, char **argv, struct deliver_args *a)
{
	int opt;

	a->config_path = CONFIG_DEFAULT_PATH;
	while ((opt = getopt(argc, argv, "+c:f:a:r:d:o:")) != -1) {
		switch (opt) {
		case 'c':
			a->config_path = optarg;
			a->config_given = true;
			break;
		case 'f':
			/* "<>" as Postfix and Exim pass the null sender */
			a->sender = strcmp(optarg, "<>") == 0 ? "" : optarg;
			break;
		case 'a':
			a->orig_rcpt = optarg;
			break;
		case 'r':
			a->final_rcpt = optarg;
			break;
		case 'd':
			a->user = optarg;
			break;
		case 'o':
			a->overrides[a->noverrides++] = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || a->user == NULL || a->user[0] == '\0')
		return -1;
	return 0;
}

int deliver_main(int argc, char **argv)
{
	struct deliver_args a = { 0 };
	struct config *cfg = NULL;
	const char *log_err = NULL;
	enum log_level level;
	char err[512];
	int ret;
	pid_t pid;
	sigset_t mask;

	opterr = 0; /* the status line is ours to print */
	a.overrides = calloc((size_t)argc + 1, sizeof(char *));
	cfg = malloc(sizeof(*cfg));
	if (a.overrides == NULL || cfg == NULL) {
		ret = say(EX_TEMPFAIL, "4.3.0 out of memory");
		goto out;
	}
	if (deliver_parse(argc, argv, &a) < 0) {
		ret = deliver_usage();
		goto out;
	}
	if (config_load(cfg, a.config_path, a.config_given, a.overrides,
			a.noverrides, err, sizeof(err)) < 0) {
		/* issue 8, 8.: configuration errors are temporary */
		ret = say(EX_TEMPFAIL, "4.3.5 configuration error: %s", err);
		goto out;
	}
	if (strcmp(cfg->log, "stderr") == 0)
		snprintf(cfg->log, sizeof(cfg->log), "syslog");
	(void)log_level_parse(cfg->log_level, &level);
	if (log_init(cfg->log, level, &log_err) < 0) {
		ret = say(EX_TEMPFAIL, "4.3.5 cannot open the log %s: %s",
			  cfg->log, log_err);
		goto out;
	}
	log_set_role("deliver");
	/* SIGCHLD blocked before the fork: the parent waits for it with
	 * sigtimedwait, and cannot miss it */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	pid = fork();
	if (pid < 0) {
		ret = say(EX_TEMPFAIL, "4.3.0 fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		ret = deliver_child(cfg, &a);
		free(cfg);
		free(a.overrides);
		exit(ret);
	}
	/* the child reads the message; the parent keeps no hold on it */
	close(STDIN_FILENO);
	ret = deliver_wait(pid, cfg->delivery_deadline);
out:
	free(cfg);
	free(a.overrides);
	return ret;
}
