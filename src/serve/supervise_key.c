/* supervise_key.c: a generation's key process, from the master's side
 * (see supervise.h and keyproc.h): the TLS context whose key it holds,
 * its start, its hello, and its descriptors.
 *
 * The master never reads tls_key: everything in its memory is copied
 * into each worker it forks. It opens the file as root and keeps only
 * the descriptor; the key process reads the key through it, so a key
 * process restarted after a crash loads the same key even when the
 * file has been replaced since (a reload picks up the new one). */
#include "serve/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "net/tls.h"
#include "serve/keyproc.h"
#include "util/log.h"

static void close_fd(int *fdp)
{
	if (*fdp >= 0)
		close(*fdp);
	*fdp = -1;
}

void supervise_key_init(struct generation *g)
{
	g->key_pid = 0;
	g->key_file_fd = -1;
	g->key_ctl_fd = -1;
	g->key_conn[0] = -1;
	g->key_conn[1] = -1;
	g->key_restart_at = 0;
}

void supervise_key_stop(struct generation *g)
{
	close_fd(&g->key_ctl_fd);
}

void supervise_key_close(struct generation *g)
{
	close_fd(&g->key_ctl_fd);
	close_fd(&g->key_file_fd);
	close_fd(&g->key_conn[0]);
	close_fd(&g->key_conn[1]);
}

/* The hello of a key process just started. 0, or -1 with err. */
static int wait_hello(struct generation *g, const char *key_path, char *err,
		      size_t errsize)
{
	struct pollfd pfd = { .fd = g->key_ctl_fd, .events = POLLIN };
	struct keyproto_hello hello;
	ssize_t n;
	int ready;

	do {
		ready = poll(&pfd, 1, KEYPROC_HELLO_TIMEOUT_MS);
	} while (ready < 0 && errno == EINTR);
	if (ready <= 0) {
		snprintf(err, errsize, "key process: no answer in %d ms",
			 KEYPROC_HELLO_TIMEOUT_MS);
		return -1;
	}
	n = recv(g->key_ctl_fd, &hello, sizeof(hello), 0);
	if (n != (ssize_t)sizeof(hello)) {
		snprintf(err, errsize, "key process exited before loading "
			 "tls_key %s", key_path);
		return -1;
	}
	if (!hello.ok) {
		hello.error[sizeof(hello.error) - 1] = '\0';
		snprintf(err, errsize, "%s", hello.error);
		return -1;
	}
	if (memcmp(hello.key_id, g->key_id, KEYPROTO_ID_LEN) != 0) {
		snprintf(err, errsize, "tls_key %s does not match tls_cert",
			 key_path);
		return -1;
	}
	return 0;
}

/* In the child: everything but its key, its sockets and the log. */
static void run_key_process(struct master *m, struct generation *g,
			    pid_t master, int ctl_fd)
{
	struct keyproc_setup setup = {
		.key_fd = g->key_file_fd, .key_path = g->cfg->tls.key,
		.ctl_fd = ctl_fd, .connect_fd = g->key_conn[0],
	};
	char err[256];

	supervise_child_close_inherited(m, g, CHILD_KEY);
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (m->gens[i].used)
			supervise_close_listeners(&m->gens[i]);
	}
	supervise_close_listeners(g);
	close_fd(&g->key_conn[1]);
	close_fd(&g->key_ctl_fd);
	supervise_child_unblock_signals();
	log_set_role("key");
	(void)prctl(PR_SET_NAME, "satchel-key", 0, 0, 0);
	if (privdrop_apply(&m->auth_priv, err, sizeof(err)) < 0) {
		log_error("%s", err);
		_exit(EX_OSERR);
	}
	supervise_child_die_with(master);
	supervise_child_sandbox(m, g->cfg, SANDBOX_KEY);
	_exit(keyproc_run(&setup));
}

int supervise_key_start(struct master *m, struct generation *g, char *err,
			size_t errsize)
{
	int pair[2];
	pid_t pid, master = getpid();

	close_fd(&g->key_ctl_fd);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		snprintf(err, errsize, "socketpair: %s", strerror(errno));
		return -1;
	}
	g->key_ctl_fd = pair[0];
	pid = fork();
	if (pid < 0) {
		snprintf(err, errsize, "fork: %s", strerror(errno));
		close(pair[1]);
		close_fd(&g->key_ctl_fd);
		return -1;
	}
	if (pid == 0)
		run_key_process(m, g, master, pair[1]);
	close(pair[1]);
	m->sandbox_logged[SANDBOX_KEY] = true;
	g->key_pid = pid;
	g->key_started = time(NULL);
	g->key_restart_at = 0;
	if (wait_hello(g, g->cfg->tls.key, err, errsize) < 0) {
		/* it exits on EOF; reap() collects it */
		close_fd(&g->key_ctl_fd);
		kill(pid, SIGTERM);
		g->key_pid = 0;
		return -1;
	}
	log_info("key process started: pid=%d", (int)pid);
	return 0;
}

int supervise_key_prepare(struct master *m, const struct config *cfg,
			  struct generation *g, bool keep, char *err,
			  size_t errsize)
{
	struct tls_remote_settings rset = {
		.timeout_ms = KEYPROC_OP_TIMEOUT_MS,
	};
	pid_t pid;

	supervise_key_init(g);
	g->cfg = (struct config *)cfg; /* for supervise_key_start */
	if (cfg->tls.cert[0] == '\0')
		return 0;
	if (cfg->tls.key[0] == '\0') {
		snprintf(err, errsize, "tls_cert is set but tls_key is not");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		       g->key_conn) < 0) {
		snprintf(err, errsize, "socketpair: %s", strerror(errno));
		supervise_key_init(g);
		return -1;
	}
	/* shared by every worker: a full queue fails, never blocks */
	(void)fcntl(g->key_conn[1], F_SETFL, O_NONBLOCK);
	rset.connect_fd = g->key_conn[1];
	if (tls_ctx_create_remote(&cfg->tls, &rset, &g->tls, g->key_id, err,
				  errsize) < 0)
		goto out_close;
	g->key_file_fd = open(cfg->tls.key, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (g->key_file_fd < 0) {
		snprintf(err, errsize, "tls_key %s: %s", cfg->tls.key,
			 strerror(errno));
		goto out_close;
	}
	if (supervise_key_start(m, g, err, errsize) < 0)
		goto out_close;
	if (!keep) {
		pid = g->key_pid;
		supervise_key_stop(g);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		g->key_pid = 0;
	}
	return 0;

out_close:
	tls_ctx_destroy(&g->tls);
	supervise_key_close(g);
	return -1;
}
