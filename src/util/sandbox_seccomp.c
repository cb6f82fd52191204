/* sandbox_seccomp.c: the seccomp filter of each kind of process (see
 * sandbox.h), with libseccomp.
 *
 * A kind's allow-list is the union of the groups its table names; a
 * call outside it kills the whole process (SCMP_ACT_KILL_PROCESS: the
 * master sees SIGSYS and restarts it), or with SANDBOX_SECCOMP_LOG is
 * only logged by the kernel. The groups were found by reading the code
 * paths and by running the integration suites of each kind with
 * sandbox_seccomp = log (docs/security.md). Nothing may fork, exec,
 * ptrace, mount, load modules or BPF, or change ids: threads only
 * (clone with CLONE_THREAD; clone3, whose flags a filter cannot read,
 * answers ENOSYS and glibc falls back to clone). */
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/* Memory, signals, time, threads' futexes, ids, descriptors. */
static const char *const sys_base[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "close", "fstat", "newfstatat", "statx", "stat", "lstat",
	"lseek", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
	"msync", "mincore", "rt_sigaction", "rt_sigprocmask",
	"rt_sigreturn", "rt_sigtimedwait", "sigaltstack", "restart_syscall",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "getpgrp",
	"getrusage", "getrlimit", "clock_gettime", "clock_getres",
	"clock_nanosleep", "nanosleep", "gettimeofday", "time", "futex",
	"set_robust_list", "get_robust_list", "rseq", "sched_yield",
	"sched_getaffinity", "exit", "exit_group", "getrandom", "fcntl",
	"dup", "dup2", "dup3", "pipe", "pipe2", "uname", "sysinfo",
	"getcwd", "eventfd2", "timerfd_create", "timerfd_settime",
	"timerfd_gettime", "signalfd4", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"select", "pselect6", "umask",
	/* the job pools' threads run at a lower priority */
	"getpriority", "setpriority", NULL,
};

/* Reading files: the store, the user databases, libraries, config. */
static const char *const sys_files[] = {
	"openat", "open", "access", "faccessat", "faccessat2", "readlink",
	"readlinkat", "getdents64", "fstatfs", "statfs", "fadvise64",
	"flock", "sendfile", "splice", NULL,
};

/* Writing a mail store or state_dir: Maildir's tmp/ -> new/ -> cur/,
 * mbox rewrites and dotlocks, the index, fsyncs. */
static const char *const sys_store[] = {
	"mkdir", "mkdirat", "rename", "renameat", "renameat2", "link",
	"linkat", "unlink", "unlinkat", "rmdir", "fsync", "fdatasync",
	"ftruncate", "fchmod", "utimensat", "fallocate", "sync_file_range",
	"copy_file_range", NULL,
};

/* Sockets of a client: syslog, DNS, PostgreSQL, LDAP, relays. */
static const char *const sys_net[] = {
	"connect", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
	"recvmmsg", "getsockname", "getpeername", "setsockopt",
	"getsockopt", "shutdown", NULL,
};

/* A server's: the listeners the master bound. */
static const char *const sys_listen[] = {
	"accept", "accept4", "listen", NULL,
};

/* --stdio: the process waits for its auth child. */
static const char *const sys_wait[] = {
	"wait4", "waitid", NULL,
};

/* A mail agent: an mbox message copied into a sealed memfd for the
 * worker (store/agent.c). */
static const char *const sys_memfd[] = {
	"memfd_create", NULL,
};

enum { G_BASE, G_FILES, G_STORE, G_NET, G_LISTEN, G_WAIT, G_MEMFD, G_MAX };

static const char *const *const groups[G_MAX] = {
	[G_BASE] = sys_base, [G_FILES] = sys_files, [G_STORE] = sys_store,
	[G_NET] = sys_net, [G_LISTEN] = sys_listen, [G_WAIT] = sys_wait,
	[G_MEMFD] = sys_memfd,
};

#define G(x) (1u << (x))
#define G_COMMON (G(G_BASE) | G(G_FILES) | G(G_STORE) | G(G_NET))

/* auth writes state_dir (last logins, the salt key) and SQLite files;
 * it never accepts. */
static const unsigned kind_groups[SANDBOX_KINDS] = {
	[SANDBOX_AUTH] = G_COMMON,
	[SANDBOX_WORKER] = G_COMMON | G(G_LISTEN),
	[SANDBOX_LMTP] = G_COMMON | G(G_LISTEN),
	[SANDBOX_STDIO] = G_COMMON | G(G_WAIT),
	[SANDBOX_DELIVER] = G_COMMON,
	[SANDBOX_KEY] = G_COMMON,
	[SANDBOX_AGENT] = G_COMMON | G(G_MEMFD),
};

/* ioctls glibc and OpenSSL make: isatty on the log, FIONREAD/FIONBIO */
static const unsigned long ioctls[] = {
	TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,
};

static const int prctls[] = {
	PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS,
	PR_GET_SECCOMP,
};

static const int domains[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

static int allow_names(scmp_filter_ctx ctx, const char *const *names,
		       unsigned *n, const char **failed_r)
{
	for (; *names != NULL; names++) {
		int nr = seccomp_syscall_resolve_name(*names);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0) {
			*failed_r = *names;
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* One argument's comparison, every field set (libseccomp's SCMP_A*
 * macros leave datum_b to the compound literal, which clang's
 * -Wmissing-field-initializers refuses under -Werror). */
static struct scmp_arg_cmp arg_is(unsigned arg, scmp_datum_t value)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = SCMP_CMP_EQ,
				  .datum_a = value, .datum_b = 0 };

	return c;
}

/* arg & mask == mask */
static struct scmp_arg_cmp arg_has(unsigned arg, scmp_datum_t mask)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = SCMP_CMP_MASKED_EQ,
				  .datum_a = mask, .datum_b = mask };

	return c;
}

/* The calls allowed only with some arguments. self: the process's pid
 * for the signals it may send itself, or 0 for a filter built ahead for
 * processes not forked yet (their abort is then a SIGSYS: dead either
 * way). */
static int allow_restricted(scmp_filter_ctx ctx, pid_t self, unsigned *n)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       arg_is(1, ioctls[i]));
	for (size_t i = 0; i < sizeof(prctls) / sizeof(prctls[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       arg_is(0, (scmp_datum_t)prctls[i]));
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       arg_is(0, (scmp_datum_t)domains[i]));
	/* a worker's channel to the key process: a pair whose one end it
	 * passes over the generation's connect socket (net/keyproto.h) */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
			       arg_is(0, (scmp_datum_t)AF_UNIX));
	/* threads, never a new process */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       arg_has(0, CLONE_THREAD));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
			       0);
	/* signals only to itself (abort, raise; a thread's pthread_kill) */
	if (self > 0) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill),
				       1, arg_is(0, (scmp_datum_t)self));
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				       arg_is(0, (scmp_datum_t)self));
	}
	/* signal 0: is a lock's owner alive (store/lock.c) */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
			       arg_is(1, 0));
	/* getrlimit through prlimit64(0, res, NULL, old): read only */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
			       arg_is(0, 0), arg_is(2, 0));
	*n += 10;
	return rc < 0 ? -1 : 0;
}

/* kind's filter in a new context (NULL with err). */
static scmp_filter_ctx seccomp_build(enum sandbox_kind kind, unsigned action,
				     pid_t self, unsigned *nsyscalls_r,
				     char *err, size_t errsize)
{
	const char *failed = "a restricted call";
	scmp_filter_ctx ctx;
	unsigned n = 0;
	int rc;

	ctx = seccomp_init(action == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG :
			   SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		snprintf(err, errsize, "sandbox: seccomp_init failed");
		return NULL;
	}
	/* every thread (none yet, but a library might have made one) */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (int g = 0; g < G_MAX && rc == 0; g++) {
		if (kind_groups[kind] & G(g))
			rc = allow_names(ctx, groups[g], &n, &failed);
	}
	if (rc == 0)
		rc = allow_restricted(ctx, self, &n);
	if (rc < 0) {
		snprintf(err, errsize, "sandbox: seccomp rule for %s", failed);
		seccomp_release(ctx);
		return NULL;
	}
	*nsyscalls_r = n;
	return ctx;
}

int sandbox_seccomp_apply(enum sandbox_kind kind, unsigned action,
			  unsigned *nsyscalls_r, char *err, size_t errsize)
{
	scmp_filter_ctx ctx;
	int rc;

	ctx = seccomp_build(kind, action, getpid(), nsyscalls_r, err, errsize);
	if (ctx == NULL)
		return -1;
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		snprintf(err, errsize, "sandbox: seccomp_load: %s",
			 strerror(-rc));
		return -1;
	}
	return 0;
}

int sandbox_seccomp_compile(enum sandbox_kind kind, unsigned action,
			    struct sandbox_seccomp_prog *prog, char *err,
			    size_t errsize)
{
	scmp_filter_ctx ctx;
	int pipefd[2], rc;
	ssize_t got;

	memset(prog, 0, sizeof(*prog));
	ctx = seccomp_build(kind, action, 0, &prog->nsyscalls, err, errsize);
	if (ctx == NULL)
		return -1;
	/* libseccomp 2.5 exports to a descriptor only; a filter is a few
	 * KB, far less than a pipe holds */
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errsize, "sandbox: pipe: %s", strerror(errno));
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_export_bpf(ctx, pipefd[1]);
	seccomp_release(ctx);
	got = rc == 0 ? read(pipefd[0], prog->insns, sizeof(prog->insns)) : -1;
	close(pipefd[0]);
	close(pipefd[1]);
	if (got <= 0 || got % (ssize_t)sizeof(prog->insns[0]) != 0 ||
	    got == (ssize_t)sizeof(prog->insns)) {
		snprintf(err, errsize, "sandbox: seccomp_export_bpf failed");
		return -1;
	}
	prog->len = (unsigned short)(got / (ssize_t)sizeof(prog->insns[0]));
	prog->action = action;
	return 0;
}

int sandbox_seccomp_load(const struct sandbox_seccomp_prog *prog, char *err,
			 size_t errsize)
{
	struct sock_fprog fprog = {
		.len = prog->len,
		.filter = (struct sock_filter *)prog->insns,
	};

	/* no_new_privs is set (sandbox_apply's first step) */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0) {
		snprintf(err, errsize, "sandbox: loading the seccomp filter: "
			 "%s", strerror(errno));
		return -1;
	}
	return 0;
}
