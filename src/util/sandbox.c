/* sandbox.c: the kernel restrictions of a process after its privilege
 * drop, in order, each checked (see sandbox.h). */
#include "util/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "util/log.h"

static const char *const kind_names[SANDBOX_KINDS] = {
	[SANDBOX_AUTH] = "auth", [SANDBOX_WORKER] = "worker",
	[SANDBOX_LMTP] = "lmtp worker", [SANDBOX_STDIO] = "stdio",
	[SANDBOX_DELIVER] = "deliver", [SANDBOX_KEY] = "key process",
	[SANDBOX_AGENT] = "mail agent",
};

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return kind < SANDBOX_KINDS ? kind_names[kind] : "?";
}

int sandbox_paths_add(struct sandbox_paths *paths, bool rw, const char *path)
{
	size_t *n = rw ? &paths->nrw : &paths->nro;
	char (*list)[SANDBOX_PATH_MAX] = rw ? paths->rw : paths->ro;
	size_t len = strlen(path);

	if (*n >= SANDBOX_PATHS_MAX || len == 0 || len >= SANDBOX_PATH_MAX)
		return -1;
	memcpy(list[*n], path, len + 1);
	(*n)++;
	return 0;
}

static int sandbox_prctl(char *err, size_t errsize)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		snprintf(err, errsize, "sandbox: PR_SET_NO_NEW_PRIVS: %s",
			 strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errsize, "sandbox: PR_SET_DUMPABLE: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* LeakSanitizer's check at exit forks a tracer that ptraces the
 * process: under the ASan build the processes that end with exit()
 * rather than _exit() (deliver's child, the --stdio sessions) keep no
 * filter, so their leaks are still checked. The master's children
 * (auth, the workers) _exit and keep theirs, and the default build
 * filters every kind. */
#if defined(__SANITIZE_ADDRESS__)
static const bool sanitizer_build = true;
#else
static const bool sanitizer_build = false;
#endif

/* Landlock into what (for the log line): on, off and why, or an error. */
static int sandbox_landlock(const struct sandbox_settings *set, char *what,
			    size_t whatsize, char *err, size_t errsize)
{
	char desc[512];
	int abi;

	if (!set->landlock) {
		snprintf(what, whatsize, "landlock off (sandbox_landlock = "
			 "no)");
		return 0;
	}
	if (set->landlock_off != NULL) {
		snprintf(what, whatsize, "landlock off (%s)",
			 set->landlock_off);
		return 0;
	}
	abi = sandbox_landlock_abi();
	if (abi < 0) {
		snprintf(what, whatsize, "landlock unavailable (%s)",
			 errno == EOPNOTSUPP ? "disabled in this kernel" :
			 "not in this kernel");
		return 0;
	}
	if (sandbox_landlock_apply(&set->paths, abi, desc, sizeof(desc), err,
				   errsize) < 0)
		return -1;
	snprintf(what, whatsize, "landlock ABI %d (%s)", abi, desc);
	return 0;
}

static int sandbox_seccomp(const struct sandbox_settings *set,
			   enum sandbox_kind kind, char *what,
			   size_t whatsize, char *err, size_t errsize)
{
	unsigned n = 0;

	if (set->seccomp == SANDBOX_SECCOMP_NO) {
		snprintf(what, whatsize, "seccomp off (sandbox_seccomp = no)");
		return 0;
	}
	if (set->seccomp_off != NULL) {
		snprintf(what, whatsize, "seccomp off (%s)", set->seccomp_off);
		return 0;
	}
	if (sanitizer_build &&
	    (kind == SANDBOX_DELIVER || kind == SANDBOX_STDIO)) {
		/* not the sanitizer's name: the tests look for it in logs */
		snprintf(what, whatsize, "seccomp off (the ASan build: its "
			 "leak check at exit forks and ptraces)");
		return 0;
	}
	if (set->seccomp_prog != NULL) {
		if (sandbox_seccomp_load(set->seccomp_prog, err, errsize) < 0)
			return -1;
		n = set->seccomp_prog->nsyscalls;
	} else if (sandbox_seccomp_apply(kind, set->seccomp, &n, err,
					 errsize) < 0) {
		return -1;
	}
	snprintf(what, whatsize, "seccomp %s (%u system calls)",
		 set->seccomp == SANDBOX_SECCOMP_LOG ? "logging only" : "on",
		 n);
	return 0;
}

int sandbox_apply(const struct sandbox_settings *set, enum sandbox_kind kind,
		  bool announce, char *err, size_t errsize)
{
	char landlock[640], seccomp[128];

	if (!set->on) {
		if (announce)
			log_warn("sandbox: %s: off (sandbox = no)",
				 sandbox_kind_name(kind));
		return 0;
	}
	if (sandbox_prctl(err, errsize) < 0 ||
	    sandbox_landlock(set, landlock, sizeof(landlock), err,
			     errsize) < 0 ||
	    sandbox_seccomp(set, kind, seccomp, sizeof(seccomp), err,
			    errsize) < 0)
		return -1;
	if (announce)
		log_info("sandbox: %s: no_new_privs, not dumpable, %s, %s",
			 sandbox_kind_name(kind), landlock, seccomp);
	return 0;
}
