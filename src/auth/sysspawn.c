/* sysspawn.c: the root spawners of PAM helpers and mail agents (see
 * sysspawn.h): one small loop each, one kind of request each. */
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

/* In a spawner, its socket to the auth process; in the auth process,
 * its sockets to the spawners (one of each kind per auth process). */
static int sysspawn_fd = -1;
static int sysspawn_agent_fd = -1;
static struct sysspawn_agents *sysspawn_agents_set;

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

void sysspawn_child_setup(int fd, const char *name, bool die_with_parent)
{
	if (die_with_parent)
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
		sysspawn_child_setup(pair[1], "satchel-pam", true);
		_exit(pam_helper_run(pair[1]));
	}
	close(pair[1]);
	*fd_r = pair[0];
	return 0;
}

/* The requests a spawner reads: either kind, aligned. */
union sysspawn_msg {
	struct sysspawn_request pam;
	struct sysspawn_agent_request agent;
};

/* One request of n octets into a helper's socket; -1 fd: refused. */
static int sysspawn_handle(enum sysspawn_kind kind,
			   const union sysspawn_msg *req, ssize_t n)
{
	int fd = -1;

	if (kind == SYSSPAWN_PAM_HELPER && n == (ssize_t)sizeof(req->pam) &&
	    req->pam.kind == SYSSPAWN_PAM_HELPER)
		(void)sysspawn_pam_helper(&fd);
	else if (kind == SYSSPAWN_AGENT &&
		 n == (ssize_t)sizeof(req->agent) &&
		 req->agent.kind == SYSSPAWN_AGENT)
		(void)sysspawn_agent_fork(sysspawn_agents_set, &req->agent,
					  &fd);
	else
		log_error("spawner: bad request (%zd octets)", n);
	return fd;
}

static int sysspawn_run(enum sysspawn_kind kind)
{
	union sysspawn_msg req;
	ssize_t n;

	log_set_role(kind == SYSSPAWN_AGENT ? "agents" : "spawner");
	for (;;) {
		unsigned char ok;
		int fd;

		n = recv(sysspawn_fd, &req, sizeof(req), MSG_TRUNC);
		if (n == 0)
			return EX_OK;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return EX_IOERR;
		/* a bad request is refused, the next one served: only the
		 * auth process can send them */
		fd = (size_t)n <= sizeof(req) ? sysspawn_handle(kind, &req, n)
					       : -1;
		ok = fd >= 0;
		explicit_bzero(&req, sizeof(req));
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

int sysspawn_agent_socket(void)
{
	return sysspawn_agent_fd;
}

const struct sysspawn_agents *sysspawn_agent_settings(void)
{
	return sysspawn_agent_fd >= 0 ? sysspawn_agents_set : NULL;
}

/* Forks a spawner of kind; the auth process's end into *fd_r. */
static int sysspawn_fork(enum sysspawn_kind kind, int *fd_r)
{
	struct sigaction sa;
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
		sysspawn_close_except(pair[1]);
		sysspawn_fd = pair[1];
		sysspawn_agent_fd = -1;
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		(void)prctl(PR_SET_NAME, kind == SYSSPAWN_AGENT ?
			    "satchel-agents" : "satchel-spawn", 0, 0, 0);
		/* helpers are reaped by the kernel: no zombies, no waits */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sa.sa_flags = SA_NOCLDWAIT;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGCHLD, &sa, NULL);
		if (kind == SYSSPAWN_AGENT)
			sysspawn_agent_prepare(sysspawn_agents_set);
		_exit(sysspawn_run(kind));
	}
	close(pair[1]);
	*fd_r = pair[0];
	return 0;
}

int sysspawn_start(const struct auth_settings *set,
		   struct sysspawn_agents *agents)
{
	struct sigaction sa;
	int ret = 0;

	if (userdb_spec_has(set->users, "pam") &&
	    sysspawn_fork(SYSSPAWN_PAM_HELPER, &sysspawn_fd) < 0)
		ret = -1;
	if (agents != NULL && agents->on) {
		sysspawn_agents_set = agents;
		if (sysspawn_fork(SYSSPAWN_AGENT, &sysspawn_agent_fd) < 0)
			ret = -1;
	}
	if (sysspawn_fd < 0 && sysspawn_agent_fd < 0)
		return ret;
	/* the auth process has no other children: a spawner that ends
	 * early is reaped by the kernel, not left a zombie */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = SA_NOCLDWAIT;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGCHLD, &sa, NULL);
	return ret;
}
