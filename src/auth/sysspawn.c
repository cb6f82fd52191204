/* sysspawn.c: the root spawner of PAM helpers (see sysspawn.h). */
#include "auth/sysspawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/pam_helper.h"
#include "auth/pam_proto.h"
#include "auth/userdb.h"
#include "net/fdpass.h"
#include "util/log.h"

/* In the spawner, its socket to the auth process; in the auth process,
 * its socket to the spawner (one spawner per auth process). */
static int sysspawn_fd = -1;

/* Closes every descriptor above stderr but keep and the log's: a root
 * process must hold nothing of the auth process's it does not need. */
static void sysspawn_close_except(int keep)
{
	int a = keep, b = log_output_fd(), lo = STDERR_FILENO + 1;

	if (b < lo || b == a)
		b = a;
	if (b < a) {
		int t = a;

		a = b;
		b = t;
	}
	if (a > lo)
		(void)close_range((unsigned)lo, (unsigned)a - 1, 0);
	if (b > a + 1)
		(void)close_range((unsigned)a + 1, (unsigned)b - 1, 0);
	(void)close_range((unsigned)b + 1, ~0u, 0);
}

/* In a new child of the spawner: only fd stays open (besides stdio). */
static void sysspawn_child_setup(int fd, const char *name)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* it holds passwords: no core file, no ptrace */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
	sysspawn_close_except(fd);
	(void)signal(SIGCHLD, SIG_DFL);
}

/* Forks a PAM helper; its peer's end into *fd_r. 0 or -1 (logged). */
static int sysspawn_pam_helper(int *fd_r)
{
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("spawner: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("spawner: fork: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		close(pair[0]);
		sysspawn_child_setup(pair[1], "satchel-pam");
		_exit(pam_helper_run(pair[1]));
	}
	close(pair[1]);
	*fd_r = pair[0];
	return 0;
}

static int sysspawn_run(void)
{
	struct sysspawn_request req;
	ssize_t n;

	log_set_role("spawner");
	for (;;) {
		unsigned char ok = 0;
		int fd = -1;

		n = recv(sysspawn_fd, &req, sizeof(req), 0);
		if (n == 0)
			return EX_OK;
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(req)) {
			log_error("spawner: bad request (%zd octets)", n);
			return EX_PROTOCOL;
		}
		if (req.kind == SYSSPAWN_PAM_HELPER &&
		    sysspawn_pam_helper(&fd) == 0)
			ok = 1;
		if (fdpass_send(sysspawn_fd, &ok, 1, fd) < 0) {
			if (fd >= 0)
				close(fd);
			return EX_IOERR;
		}
		if (fd >= 0)
			close(fd);
	}
}

int sysspawn_socket(void)
{
	return sysspawn_fd;
}

int sysspawn_start(const struct auth_settings *set)
{
	struct sigaction sa;
	int pair[2];
	pid_t pid;

	if (!userdb_spec_has(set->users, "pam"))
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("pam spawner: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("pam spawner: fork: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		close(pair[0]);
		sysspawn_close_except(pair[1]);
		sysspawn_fd = pair[1];
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		(void)prctl(PR_SET_NAME, "satchel-spawn", 0, 0, 0);
		/* helpers are reaped by the kernel: no zombies, no waits */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sa.sa_flags = SA_NOCLDWAIT;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGCHLD, &sa, NULL);
		_exit(sysspawn_run());
	}
	close(pair[1]);
	sysspawn_fd = pair[0];
	/* the auth process has no other children: a spawner that ends
	 * early is reaped by the kernel, not left a zombie */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = SA_NOCLDWAIT;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGCHLD, &sa, NULL);
	return 0;
}
