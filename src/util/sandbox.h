/* sandbox.h: what a process gives up once its privileges are dropped
 * (issue 13, docs/security.md): no_new_privs, not dumpable, a Landlock
 * ruleset on the file system and a seccomp filter of the system calls
 * its kind of process makes. */
#ifndef SATCHEL_SANDBOX_H
#define SATCHEL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds of process, each with its own seccomp allow-list
 * (sandbox_seccomp.c). */
enum sandbox_kind {
	SANDBOX_AUTH,        /* the auth process */
	SANDBOX_WORKER,      /* a POP3 worker */
	SANDBOX_LMTP,        /* an LMTP worker */
	SANDBOX_STDIO,       /* serve/lmtp --stdio: one session, waits for
				its auth child */
	SANDBOX_DELIVER,     /* satchel deliver's child: one message */
	SANDBOX_KEY,         /* the key process: signs with the TLS key */
	SANDBOX_AGENT,       /* a mail agent: one user's maildrop */
	SANDBOX_KINDS
};

/* sandbox_seccomp: what a system call outside the allow-list does. */
enum sandbox_seccomp {
	SANDBOX_SECCOMP_NO,   /* no filter */
	SANDBOX_SECCOMP_YES,  /* the whole process is killed (SIGSYS) */
	SANDBOX_SECCOMP_LOG,  /* allowed, logged by the kernel (audit):
				 to find what a new setup needs */
};

/* Directories (or files) a Landlock ruleset opens, besides the system
 * files every process reads (sandbox_landlock.c). */
#define SANDBOX_PATHS_MAX 13
#define SANDBOX_PATH_MAX 4096

struct sandbox_paths {
	char rw[SANDBOX_PATHS_MAX][SANDBOX_PATH_MAX]; /* read-write */
	size_t nrw;
	char ro[SANDBOX_PATHS_MAX][SANDBOX_PATH_MAX]; /* read-only */
	size_t nro;
};

/* A kind's seccomp filter compiled ahead (sandbox_seccomp_compile), for
 * a process that forks many sandboxed children (the agent spawner):
 * each child only loads it. BPF instructions as the kernel takes them. */
#define SANDBOX_SECCOMP_INSNS_MAX 4096
struct sandbox_seccomp_prog {
	uint64_t insns[SANDBOX_SECCOMP_INSNS_MAX]; /* struct sock_filter */
	unsigned short len;
	unsigned action;      /* enum sandbox_seccomp it was built with */
	unsigned nsyscalls;
};

struct sandbox_settings {
	bool on;              /* sandbox = no: none of it */
	unsigned seccomp;     /* enum sandbox_seccomp */
	bool landlock;        /* off: the file system as the uid allows */
	/* why landlock/seccomp stay off for this process although asked
	 * for (e.g. it runs a program: xtnd_xmit's sendmail), or NULL */
	const char *landlock_off;
	const char *seccomp_off;
	/* NULL, or the filter to load instead of building one now */
	const struct sandbox_seccomp_prog *seccomp_prog;
	struct sandbox_paths paths;
};

/* "auth", "worker", ... as the log names them. */
const char *sandbox_kind_name(enum sandbox_kind kind);

/* Adds path to the read-write (rw) or read-only list. 0, or -1 when the
 * list is full or path too long. */
int sandbox_paths_add(struct sandbox_paths *paths, bool rw,
		      const char *path);

/* Applies set to the calling process, which must be single-threaded
 * (Landlock binds the calling thread and those it creates later), in
 * order: PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0, Landlock, seccomp, each
 * checked. Landlock where the kernel lacks it is logged (when announce)
 * and skipped; any other failure is an error. With announce, logs one
 * line naming kind and every protection that is on. 0, or -1 with err. */
int sandbox_apply(const struct sandbox_settings *set, enum sandbox_kind kind,
		  bool announce, char *err, size_t errsize);

/* sandbox_landlock.c: the ABI version the kernel offers, or -1 (no
 * Landlock: ENOSYS, or disabled at boot: EOPNOTSUPP). */
int sandbox_landlock_abi(void);
/* Restricts the calling thread (and its later threads and children) to
 * paths plus the system files every process reads. desc gets a short
 * description for the log. 0, or -1 with err. */
int sandbox_landlock_apply(const struct sandbox_paths *paths, int abi,
			   char *desc, size_t descsize, char *err,
			   size_t errsize);

/* sandbox_seccomp.c: loads kind's allow-list with action (YES or LOG)
 * for every thread of the process. *nsyscalls_r: the calls allowed.
 * 0, or -1 with err. */
int sandbox_seccomp_apply(enum sandbox_kind kind, unsigned action,
			  unsigned *nsyscalls_r, char *err, size_t errsize);
/* kind's allow-list with action compiled into prog, without the calls
 * that name the process's own pid (kill, tgkill of itself: a process
 * forked later has another). 0, or -1 with err. */
int sandbox_seccomp_compile(enum sandbox_kind kind, unsigned action,
			    struct sandbox_seccomp_prog *prog, char *err,
			    size_t errsize);
/* Loads prog on the calling thread (single-threaded processes only: no
 * TSYNC). 0, or -1 with err. */
int sandbox_seccomp_load(const struct sandbox_seccomp_prog *prog, char *err,
			 size_t errsize);

#endif
