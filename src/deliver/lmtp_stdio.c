/* lmtp_stdio.c: `satchel lmtp --stdio` (lmtp_main, lmtp.h): one LMTP
 * session on fd 0 (read) and fd 1 (write), for Exim's lmtp transport
 * with command=, swaks --pipe and the dialogue tests.
 *
 * The same session, command and delivery code as the LMTP worker, in
 * the same kind of loop with a job pool; there is no auth process, so
 * the user database is loaded here (before the privilege drop: it may be
 * readable by root alone) and each lookup runs auth_userdb_lookup() in a
 * job, the function the auth process answers AUTH_REQ_USERDB with. Run
 * as root, the session drops to mail_user first. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth_userdb.h"
#include "config/config_sandbox.h"
#include "deliver/lmtp.h"
#include "deliver/lmtp_limits.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/ioloop.h"
#include "util/jobpool.h"
#include "util/log.h"
#include "util/privdrop.h"

struct stdio_lookup;

struct lmtp_stdio {
	struct userdb *db;             /* NULL: every lookup is TEMPFAIL */
	struct lmtp_session *session;  /* the one session, NULL once gone */
	struct stdio_lookup *lookup;   /* the job in flight */
	struct io *jobs_io;
};

struct stdio_lookup {
	struct jobpool_job job;        /* first: the pool's link */
	struct lmtp_stdio *host;
	const struct auth_settings *set;
	struct userdb *db;             /* one lookup at a time uses it */
	struct lmtp_session *session;  /* NULL once it left */
	char address[LMTP_PATH_MAX];
	struct auth_reply reply;
	const char *error;             /* why a lookup failed, static */
};

static void stdio_lookup_run(struct jobpool_job *job)
{
	struct stdio_lookup *j = (struct stdio_lookup *)job;

	j->error = NULL;
	(void)auth_userdb_lookup(j->set, j->db, j->address, &j->reply,
				 &j->error);
}

static void stdio_lookup_done(struct jobpool_job *job)
{
	struct stdio_lookup *j = (struct stdio_lookup *)job;
	struct lmtp_session *s = j->session;

	if (j->reply.result != AUTH_OK && j->reply.result != AUTH_FAILED) {
		char address[LMTP_PATH_MAX];

		log_error("user lookup of %s: %s",
			  log_sanitize(j->address, strlen(j->address), address,
				       sizeof(address)),
			  j->error != NULL ? j->error : "failed");
	}
	if (s != NULL) {
		j->host->lookup = NULL;
		lmtp_session_lookup_done(s, &j->reply);
	}
	free(j);
}

static int stdio_lookup(struct lmtp_server *srv, struct lmtp_session *s,
			const char *address)
{
	struct lmtp_stdio *host = srv->host;
	struct stdio_lookup *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->job.run = stdio_lookup_run;
	j->job.done = stdio_lookup_done;
	j->host = host;
	j->set = &srv->cfg->auth;
	j->db = host->db;
	j->session = s;
	snprintf(j->address, sizeof(j->address), "%s", address);
	host->lookup = j;
	jobpool_submit(srv->jobs, &j->job);
	return 0;
}

static void stdio_lookup_cancel(struct lmtp_server *srv,
				struct lmtp_session *s)
{
	struct lmtp_stdio *host = srv->host;

	/* the job runs on; its answer goes nowhere */
	if (host->lookup != NULL)
		host->lookup->session = NULL;
	host->lookup = NULL;
}

static void stdio_session_gone(struct lmtp_server *srv,
			       struct lmtp_session *s)
{
	struct lmtp_stdio *host = srv->host;

	if (host->lookup != NULL)
		host->lookup->session = NULL;
	host->lookup = NULL;
	host->session = NULL;
}

static const struct lmtp_host_ops stdio_ops = {
	.lookup = stdio_lookup,
	.lookup_cancel = stdio_lookup_cancel,
	.session_gone = stdio_session_gone,
};

/* --- descriptors --- */

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* epoll cannot watch a regular file (a session replayed from a file,
 * `satchel lmtp --stdio < session.txt`): a child copies it into a pipe
 * that becomes fd 0. 0 or -1. */
static int stdio_file_to_pipe(void)
{
	struct stat st;
	int pipefd[2];
	pid_t pid;

	if (fstat(STDIN_FILENO, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char buf[65536];
		ssize_t n;

		close(pipefd[0]);
		while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0) {
			if (write(pipefd[1], buf, (size_t)n) != n)
				_exit(EX_IOERR);
		}
		_exit(n < 0 ? EX_IOERR : EX_OK);
	}
	close(pipefd[1]);
	if (dup2(pipefd[0], STDIN_FILENO) < 0)
		return -1;
	close(pipefd[0]);
	return 0;
}

/* fd 0 is read without blocking; a distinct fd 1 (a pipe) is made
 * blocking, as conn_set_out_fd requires (one session: nobody else to
 * serve while a write waits). */
static int stdio_prepare_fds(void)
{
	int in_flags = fcntl(STDIN_FILENO, F_GETFL);
	int out_flags = fcntl(STDOUT_FILENO, F_GETFL);

	if (in_flags < 0 || out_flags < 0)
		return EX_NOINPUT;
	if (stdio_file_to_pipe() < 0)
		return EX_OSERR;
	in_flags = fcntl(STDIN_FILENO, F_GETFL);
	if (in_flags < 0 ||
	    fcntl(STDIN_FILENO, F_SETFL, in_flags | O_NONBLOCK) < 0)
		return EX_OSERR;
	if (!same_file(STDIN_FILENO, STDOUT_FILENO) &&
	    fcntl(STDOUT_FILENO, F_SETFL, out_flags & ~O_NONBLOCK) < 0)
		return EX_OSERR;
	return EX_OK;
}

/* Before any session can speak: a reply the client understands. */
static int stdio_refuse(const char *why, int status)
{
	if (dprintf(STDOUT_FILENO, "421 4.3.0 %s\r\n", why) < 0) {
		/* the client is gone already */
	}
	return status;
}

static void jobs_io(void *context, unsigned ready)
{
	struct lmtp_server *srv = context;

	(void)jobpool_complete(srv->jobs);
}

static int stdio_run(const struct config *cfg, struct lmtp_stdio *host)
{
	struct lmtp_server srv;
	struct lmtp_session *s;
	int ret = EX_OK;

	lmtp_server_init(&srv, cfg);
	srv.ops = &stdio_ops;
	srv.host = host;
	/* nothing to accept: the loop ends with the one session */
	srv.draining = true;
	srv.loop = ioloop_create();
	srv.jobs = srv.loop != NULL ? jobpool_create(2) : NULL;
	if (srv.jobs != NULL)
		host->jobs_io = io_add(srv.loop, jobpool_fd(srv.jobs),
				       IO_READ, false, jobs_io, &srv);
	if (host->jobs_io == NULL) {
		log_error("lmtp --stdio setup: %s", strerror(errno));
		ret = stdio_refuse("Cannot set up the session", EX_TEMPFAIL);
		goto out;
	}
	s = lmtp_session_create(&srv, STDIN_FILENO, "local");
	if (s == NULL) {
		ret = stdio_refuse("Cannot set up the session", EX_TEMPFAIL);
		goto out;
	}
	if (!same_file(STDIN_FILENO, STDOUT_FILENO))
		conn_set_out_fd(&s->conn, STDOUT_FILENO);
	host->session = s;
	lmtp_session_start(s);
	if (srv.nsessions > 0 && ioloop_run(srv.loop) < 0) {
		log_error("event loop: %s", strerror(errno));
		ret = EX_OSERR;
	}
	if (host->session != NULL)
		lmtp_session_destroy(&host->session);
out:
	srv.stopping = true;
	io_remove(&host->jobs_io);
	jobpool_destroy(&srv.jobs);
	ioloop_destroy(&srv.loop);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: satchel lmtp --stdio [-c FILE] "
		"[-o key=value]...\n");
}

int lmtp_main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "stdio", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONFIG_DEFAULT_PATH, *log_err = NULL;
	struct lmtp_stdio host = { 0 };
	bool config_given = false, stdio = false;
	struct privdrop priv;
	enum log_level level;
	char **overrides;
	struct config *cfg;
	int opt, noverrides = 0, ret;
	char err[512];

	overrides = calloc((size_t)argc + 1, sizeof(char *));
	cfg = malloc(sizeof(*cfg));
	if (overrides == NULL || cfg == NULL) {
		ret = EX_TEMPFAIL;
		goto out;
	}
	while ((opt = getopt_long(argc, argv, "c:o:h", long_opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			config_given = true;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
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
	if (optind != argc || !stdio) {
		usage();
		ret = EX_USAGE;
		goto out;
	}
	ret = stdio_prepare_fds();
	if (ret != EX_OK)
		goto out;
	/* issue 8: configuration errors are temporary (no mail bounces
	 * because of an admin's typo) */
	if (config_load(cfg, config_path, config_given, overrides,
			noverrides, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel: %s\n", err);
		ret = stdio_refuse("Configuration error", EX_TEMPFAIL);
		goto out;
	}
	/* a log line must never reach the client on its stream */
	if (strcmp(cfg->log, "stderr") == 0 &&
	    (same_file(STDERR_FILENO, STDIN_FILENO) ||
	     same_file(STDERR_FILENO, STDOUT_FILENO)))
		snprintf(cfg->log, sizeof(cfg->log), "syslog");
	(void)log_level_parse(cfg->log_level, &level);
	if (log_init(cfg->log, level, &log_err) < 0) {
		fprintf(stderr, "satchel: log %s: %s\n", cfg->log, log_err);
		ret = stdio_refuse("Cannot open the log", EX_TEMPFAIL);
		goto out;
	}
	log_set_role("lmtp");
	signal(SIGPIPE, SIG_IGN);
	if (userdb_open(&cfg->auth, &host.db, &log_err) < 0) {
		/* every RCPT gets 451 4.3.0 */
		log_error("user database not opened: %s", log_err);
		host.db = NULL;
	}
	if (privdrop_resolve(cfg->mail_user, &priv, err, sizeof(err)) < 0 ||
	    privdrop_apply(&priv, err, sizeof(err)) < 0) {
		log_error("%s", err);
		ret = stdio_refuse("Cannot drop privileges", EX_TEMPFAIL);
		goto out;
	}
	if (config_sandbox_apply(cfg, SANDBOX_STDIO, true,
				 "lmtp --stdio reads the user database",
				 err, sizeof(err)) < 0) {
		log_error("%s", err);
		ret = stdio_refuse("Cannot apply the sandbox", EX_TEMPFAIL);
		goto out;
	}
	ret = stdio_run(cfg, &host);
out:
	userdb_close(&host.db);
	free(cfg);
	free(overrides);
	return ret;
}
