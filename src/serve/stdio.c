/* stdio.c: `satchel serve --stdio`: the auth process, the descriptors and
 * the privilege drop around one worker session on stdin/stdout (see
 * stdio.h). */
#include "serve/stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth_process.h"
#include "auth/sysspawn.h"
#include "config/config_sandbox.h"
#include "net/fdpass.h"
#include "serve/connlimit.h"
#include "serve/faildelay.h"
#include "serve/xmitrate.h"
#include "serve/worker.h"
#include "util/log.h"

/* True when descriptors a and b are open on the same file (one socket
 * from inetd, one terminal). */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void stdio_log_guard(struct config *cfg)
{
	if (strcmp(cfg->log, "stderr") == 0 &&
	    (same_file(STDERR_FILENO, STDIN_FILENO) ||
	     same_file(STDERR_FILENO, STDOUT_FILENO)))
		snprintf(cfg->log, sizeof(cfg->log), "syslog");
}

static int set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags);
}

/* The loop reads fd 0 without blocking. One file (a socket) is watched
 * on fd 0 for both directions, so both may be non-blocking; two files
 * (pipes) are watched for reading only, so fd 1 is made blocking: a
 * write then never has to wait for an event (one session per process,
 * nobody else to serve meanwhile). */
static int stdio_prepare_fds(void)
{
	if (fcntl(STDIN_FILENO, F_GETFL) < 0 ||
	    fcntl(STDOUT_FILENO, F_GETFL) < 0) {
		log_error("--stdio: stdin and stdout must be open");
		return EX_NOINPUT;
	}
	if (set_nonblock(STDIN_FILENO, true) < 0 ||
	    (!same_file(STDIN_FILENO, STDOUT_FILENO) &&
	     set_nonblock(STDOUT_FILENO, false) < 0)) {
		log_error("--stdio: fcntl: %s", strerror(errno));
		return EX_OSERR;
	}
	return EX_OK;
}

/* The auth process keeps no hold on the client's stream: the client
 * sees the end of the session when the session process exits. */
static void stdio_detach_auth(void)
{
	bool log_on_stream = same_file(STDERR_FILENO, STDIN_FILENO) ||
			     same_file(STDERR_FILENO, STDOUT_FILENO);
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null_fd < 0)
		_exit(EX_OSERR);
	if (dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(null_fd, STDOUT_FILENO) < 0 ||
	    (log_on_stream && dup2(null_fd, STDERR_FILENO) < 0))
		_exit(EX_OSERR);
	close(null_fd);
}

/* Forks the auth process on its end of a control socketpair, like the
 * master does. Returns its pid with *control_r set, or -1. */
static pid_t stdio_start_auth(const struct config *cfg,
			      const struct privdrop *mail_priv,
			      const struct privdrop *auth_priv,
			      int *control_r)
{
	/* big (the sandbox paths); the agent spawner keeps it */
	static struct sysspawn_agents agents;
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		char err[256];

		close(pair[0]);
		stdio_detach_auth();
		log_set_role("auth");
		(void)prctl(PR_SET_NAME, "satchel-auth", 0, 0, 0);
		/* PAM and the mail agents need root: their spawners fork
		 * before the drop */
		if (config_agents(cfg, mail_priv->active ? mail_priv->uid :
				  geteuid(), mail_priv->active ?
				  mail_priv->gid : getegid(), &agents, err,
				  sizeof(err)) < 0) {
			log_error("mail agents unavailable: %s", err);
			agents.on = false;
		}
		(void)sysspawn_start(&cfg->auth, &agents);
		if (privdrop_apply(auth_priv, err, sizeof(err)) < 0) {
			log_error("%s", err);
			_exit(EX_OSERR);
		}
		/* after the drop, which clears it */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		if (config_sandbox_apply(cfg, SANDBOX_AUTH, false, NULL, err,
					 sizeof(err)) < 0) {
			log_error("%s", err);
			_exit(EX_OSERR);
		}
		_exit(auth_process_run(&cfg->auth, pair[1]));
	}
	close(pair[1]);
	*control_r = pair[0];
	return pid;
}

/* Hands the auth process the socket of worker slot 0. Returns the
 * worker's end, or -1. */
static int stdio_connect_worker(int control_fd)
{
	struct auth_control ctl = { .slot = 0, .kind = AUTH_SLOT_POP3 };
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	if (fdpass_send(control_fd, &ctl, sizeof(ctl), pair[1]) < 0) {
		log_error("passing the worker socket to auth: %s",
			  strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	close(pair[1]);
	return pair[0];
}

int stdio_run(const struct config *cfg, struct tls_ctx *tls,
	      const struct privdrop *mail_priv,
	      const struct privdrop *auth_priv)
{
	struct worker_setup setup = { .cfg = cfg, .tls = tls, .ready_fd = -1,
				      .stdio = true };
	int control_fd = -1, auth_fd, status, ret;
	char err[256];
	pid_t auth_pid;

	ret = stdio_prepare_fds();
	if (ret != EX_OK)
		return ret;
	auth_pid = stdio_start_auth(cfg, mail_priv, auth_priv, &control_fd);
	if (auth_pid < 0)
		return EX_OSERR;
	auth_fd = stdio_connect_worker(control_fd);
	if (auth_fd < 0) {
		ret = EX_OSERR;
		goto out_auth;
	}
	/* the shared tables of the one worker (the session counts itself
	 * in and out like any accepted connection) */
	setup.connlimit = connlimit_create(1);
	setup.faildelay = faildelay_create();
	setup.xmitrate = xmitrate_create();
	if (setup.connlimit == NULL || setup.faildelay == NULL ||
	    setup.xmitrate == NULL) {
		log_error("shared memory: %s", strerror(errno));
		close(auth_fd);
		ret = EX_OSERR;
		goto out_auth;
	}
	if (privdrop_apply(mail_priv, err, sizeof(err)) < 0) {
		log_error("%s", err);
		close(auth_fd);
		ret = EX_OSERR;
		goto out_auth;
	}
	if (config_sandbox_apply(cfg, SANDBOX_STDIO, true, NULL, err,
				 sizeof(err)) < 0) {
		log_error("%s", err);
		close(auth_fd);
		ret = EX_OSERR;
		goto out_auth;
	}
	setup.auth_fd = auth_fd;
	ret = worker_run(&setup);
	close(auth_fd);
out_auth:
	/* EOF on the control socket ends the auth process; wait for it so
	 * its last log lines are out before we exit. */
	close(control_fd);
	while (waitpid(auth_pid, &status, 0) < 0 && errno == EINTR)
		;
	return ret;
}
