/* sandbox_landlock.c: the Landlock ruleset of a process (see sandbox.h),
 * through the raw system calls (glibc has no wrappers).
 *
 * Every file-system right the kernel's ABI knows of (up to TRUNCATE,
 * ABI 3) is handled, so what no rule grants is refused with EACCES:
 * the directories of paths->rw get everything a mail store does (read,
 * write, create and remove files and directories, rename and link
 * between directories, truncate), never execute or special files;
 * paths->ro and the system files below are read-only. A path that does
 * not exist is skipped (a mail root gets its nearest existing parent,
 * so mail made later under it is reachable). ABI 5's device ioctls and
 * ABI 4's TCP ports are not handled (docs/security.md). */
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than Debian 12's headers */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define FS_ABI1 ((1ULL << 13) - 1)  /* EXECUTE .. MAKE_SYM */
#define FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)
#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_STORE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		  LANDLOCK_ACCESS_FS_REMOVE_DIR | \
		  LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		  LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
		  LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

/* What every process reads after its drop: shared objects loaded late
 * (NSS modules, gconv, OpenSSL engines, krb5 and GSSAPI plugins), the
 * resolver's and NSS's files, time zones, CA certificates (proxy_tls,
 * LDAP, PostgreSQL), and /proc/self (the sanitizers, glibc). */
static const char *const system_ro[] = {
	"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/share/zoneinfo",
	"/usr/share/ca-certificates", "/etc/ld.so.cache", "/etc/localtime",
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
	"/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols",
	"/etc/ssl", "/etc/krb5.conf", "/etc/gss", "/etc/ldap", "/etc/gnutls",
	"/etc/postgresql-common", "/etc/passwd", "/etc/group",
	"/proc/self", "/sys/devices/system/cpu", "/dev/null",
	"/dev/urandom",
};

int sandbox_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
			 LANDLOCK_CREATE_RULESET_VERSION);

	return v < 1 ? -1 : (int)v;
}

static uint64_t handled_for(int abi)
{
	uint64_t h = FS_ABI1;

	if (abi >= 2)
		h |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		h |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return h;
}

/* One rule for path. 1 when added, 0 when path does not exist, -1 on
 * error (errno). */
static int add_rule(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr attr = { .allowed_access = access };
	struct stat st;
	int fd, rc;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		attr.allowed_access &= FS_FILE;
	attr.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset,
			  LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	close(fd);
	return rc < 0 ? -1 : 1;
}

/* A missing mail root: its nearest existing parent, never "/". 1 with
 * the rule added (path in used), 0 when there is none, -1 on error. */
static int add_store_rule(int ruleset, const char *path, uint64_t access,
			  char *used, size_t usedsize)
{
	int rc;

	snprintf(used, usedsize, "%s", path);
	for (;;) {
		char *slash;

		rc = add_rule(ruleset, used, access);
		if (rc != 0)
			return rc;
		slash = strrchr(used, '/');
		if (slash == NULL || slash == used)
			return 0;
		*slash = '\0';
	}
}

static void desc_add(char *desc, size_t descsize, const char *text)
{
	size_t len = strlen(desc);

	if (len + 1 < descsize)
		snprintf(desc + len, descsize - len, "%s%s",
			 len > 0 ? " " : "", text);
}

static int add_rules(int ruleset, const struct sandbox_paths *paths,
		     uint64_t handled, char *desc, size_t descsize,
		     char *err, size_t errsize)
{
	char used[SANDBOX_PATH_MAX];
	const char *failed = NULL;

	for (size_t i = 0; i < paths->nrw && failed == NULL; i++) {
		int rc = add_store_rule(ruleset, paths->rw[i],
					FS_STORE & handled, used,
					sizeof(used));

		if (rc < 0)
			failed = paths->rw[i];
		else if (rc > 0)
			desc_add(desc, descsize, used);
	}
	desc_add(desc, descsize, "rw;");
	for (size_t i = 0; i < paths->nro && failed == NULL; i++) {
		int rc = add_rule(ruleset, paths->ro[i], FS_READ & handled);

		if (rc < 0)
			failed = paths->ro[i];
		else if (rc > 0)
			desc_add(desc, descsize, paths->ro[i]);
	}
	desc_add(desc, descsize, paths->nro > 0 ? "ro; system files ro" :
				 "system files ro");
	for (size_t i = 0; i < sizeof(system_ro) / sizeof(system_ro[0]) &&
			   failed == NULL; i++) {
		if (add_rule(ruleset, system_ro[i], FS_READ & handled) < 0)
			failed = system_ro[i];
	}
	if (failed != NULL) {
		snprintf(err, errsize, "sandbox: landlock rule for %s: %s",
			 failed, strerror(errno));
		return -1;
	}
	return 0;
}

int sandbox_landlock_apply(const struct sandbox_paths *paths, int abi,
			   char *desc, size_t descsize, char *err,
			   size_t errsize)
{
	struct landlock_ruleset_attr attr = {
		.handled_access_fs = handled_for(abi),
	};
	int ruleset;

	desc[0] = '\0';
	/* the struct as this header knows it: a newer kernel takes it */
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
			       sizeof(attr), 0);
	if (ruleset < 0) {
		snprintf(err, errsize, "sandbox: landlock_create_ruleset: %s",
			 strerror(errno));
		return -1;
	}
	if (add_rules(ruleset, paths, attr.handled_access_fs, desc, descsize,
		      err, errsize) < 0)
		goto out_close;
	/* no_new_privs is set already (sandbox_apply's first step) */
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		snprintf(err, errsize, "sandbox: landlock_restrict_self: %s",
			 strerror(errno));
		goto out_close;
	}
	close(ruleset);
	return 0;

out_close:
	close(ruleset);
	return -1;
}
