/* userfile.c: reading, checking, editing and listing the passwd-file for
 * `satchel user` (see userfile.h). */
#include "user/userfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/password.h"
#include "util/fileio.h"

#define USERFILE_LOCK_WAIT_MS 10000
/* what one edited line may grow by besides the new hash and secrets:
 * the padding ':'s, a separator, a line end */
#define USERFILE_LINE_SLACK 16

/* The passwd-file's contents and identity. */
struct userfile {
	char *text;
	size_t len;
	bool exists;
	struct stat st;
};

/* The edited file, built in memory for fileio_replace; sized once, so
 * no copy of a secret is left behind by a realloc. */
struct userfile_out {
	char *p;
	size_t len, cap;
};

static void userfile_free(struct userfile *f)
{
	if (f->text != NULL) {
		explicit_bzero(f->text, f->len);
		free(f->text);
	}
	f->text = NULL;
	f->len = 0;
}

static int userfile_read(const char *path, struct userfile *f)
{
	size_t size;
	int fd, ret = EX_IOERR;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return EX_OK;
		fprintf(stderr, "satchel user: %s: %s\n", path,
			strerror(errno));
		return errno == EACCES ? EX_NOPERM : EX_IOERR;
	}
	if (fstat(fd, &f->st) < 0 || !S_ISREG(f->st.st_mode) ||
	    (uint64_t)f->st.st_size > PASSWD_FILE_MAX) {
		fprintf(stderr, "satchel user: %s: not a regular file of at "
			"most %u octets\n", path, PASSWD_FILE_MAX);
		goto out_close;
	}
	size = (size_t)f->st.st_size;
	f->text = malloc(size + 1);
	if (f->text == NULL) {
		fprintf(stderr, "satchel user: out of memory\n");
		ret = EX_OSERR;
		goto out_close;
	}
	while (f->len < size) {
		ssize_t n = read(fd, f->text + f->len, size - f->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "satchel user: %s: %s\n", path,
				strerror(errno));
			goto out_free;
		}
		if (n == 0)
			break;
		f->len += (size_t)n;
	}
	f->text[f->len] = '\0';
	f->exists = true;
	close(fd);
	return EX_OK;

out_free:
	userfile_free(f);
out_close:
	close(fd);
	return ret;
}

/* True when the line belongs to name: its user field, as the parser
 * splits it, even when the rest of the line is refused (so passwd can
 * repair it and add does not make a duplicate). */
static bool userfile_line_is(const struct passwd_line *l, const char *name)
{
	size_t len = strlen(name);

	return l->kind != PASSWD_LINE_SKIP && l->n_fields >= 2 &&
	       l->fields[0].len == len && memcmp(l->raw, name, len) == 0;
}

static unsigned userfile_count(const struct userfile *f, const char *name)
{
	struct passwd_iter it;
	struct passwd_line l;
	unsigned count = 0;

	passwd_iter_init(&it, f->text != NULL ? f->text : "", f->len);
	while (passwd_iter_next(&it, &l))
		count += userfile_line_is(&l, name);
	passwd_iter_deinit(&it);
	return count;
}

/* Checks the user's presence as the edit needs it. */
static int userfile_check_user(const char *path, const struct userfile *f,
			       enum userfile_edit edit, const char *name,
			       unsigned *count_r)
{
	unsigned count = userfile_count(f, name);

	*count_r = count;
	if (edit == USERFILE_ADD && count > 0) {
		fprintf(stderr, "satchel user: %s already exists in %s\n",
			name, path);
		return EX_DATAERR;
	}
	if (edit != USERFILE_ADD && count == 0) {
		fprintf(stderr, "satchel user: no user %s in %s\n", name,
			path);
		return EX_NOUSER;
	}
	if (count > 1)
		fprintf(stderr, "satchel user: warning: %s appears %u times "
			"(the server refuses such a file); changing all\n",
			name, count);
	return EX_OK;
}

int userfile_check(const char *path, enum userfile_edit edit,
		   const char *name)
{
	struct userfile f;
	unsigned count;
	int ret;

	ret = userfile_read(path, &f);
	if (ret != EX_OK)
		return ret;
	if (!f.exists && edit != USERFILE_ADD) {
		fprintf(stderr, "satchel user: %s does not exist\n", path);
		return EX_NOINPUT;
	}
	ret = userfile_check_user(path, &f, edit, name, &count);
	userfile_free(&f);
	return ret;
}

/* Appends; the buffer was sized for the whole edit, so running out is a
 * bug, reported rather than written truncated. */
static void userfile_put(struct userfile_out *out, const char *p,
			 size_t len)
{
	if (out->len > out->cap || len > out->cap - out->len) {
		out->len = out->cap + 1;
		return;
	}
	memcpy(out->p + out->len, p, len);
	out->len += len;
}

static void userfile_puts(struct userfile_out *out, const char *s)
{
	userfile_put(out, s, strlen(s));
}

/* A user's line after passwd: the new password field, fields 3 to 7 as
 * they were, the extra fields without the old secret= ones (they belong
 * to the old password) and with the new ones (extras). */
static void userfile_put_passwd(struct userfile_out *out,
				const struct passwd_line *l,
				const char *hash, const char *extras)
{
	const struct passwd_span *pw = &l->fields[1], *extra = &l->fields[7];
	size_t pw_end = pw->off + pw->len;
	bool wrote = false;
	const char *p, *end;

	userfile_put(out, l->raw, pw->off);
	userfile_puts(out, hash);
	if (l->n_fields < PASSWD_FIELDS) {
		userfile_put(out, l->raw + pw_end, l->len - pw_end);
		if (extras[0] == '\0')
			return;
		/* up to the 7th ':', where the extra fields start */
		for (unsigned n = l->n_fields; n < PASSWD_FIELDS; n++)
			userfile_put(out, ":", 1);
		userfile_puts(out, extras + 1);
		return;
	}
	userfile_put(out, l->raw + pw_end, extra->off - pw_end);
	p = l->raw + extra->off;
	end = p + extra->len;
	while (p < end) {
		size_t tok = 0;

		while (p + tok < end && p[tok] != ' ' && p[tok] != '\t')
			tok++;
		if (tok > 0 && !passwd_extra_is_secret(p, tok)) {
			if (wrote)
				userfile_put(out, " ", 1);
			userfile_put(out, p, tok);
			wrote = true;
		}
		p += tok;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if (extras[0] != '\0')
		userfile_puts(out, wrote ? extras : extras + 1);
}

/* The edited file into out (allocated here; the caller wipes it). */
static int userfile_build(const struct userfile *f, enum userfile_edit edit,
			  const char *name, const char *hash,
			  const char *extras, unsigned count,
			  struct userfile_out *out)
{
	struct passwd_iter it;
	struct passwd_line l;
	size_t grow = strlen(name) + strlen(hash) + strlen(extras) +
		      USERFILE_LINE_SLACK;

	out->len = 0;
	out->cap = f->len + (size_t)(count + 1) * grow;
	out->p = malloc(out->cap);
	if (out->p == NULL) {
		fprintf(stderr, "satchel user: out of memory\n");
		return EX_OSERR;
	}
	passwd_iter_init(&it, f->text != NULL ? f->text : "", f->len);
	while (passwd_iter_next(&it, &l)) {
		if (!userfile_line_is(&l, name)) {
			/* raw and its ending are adjacent in the text */
			userfile_put(out, l.raw, l.len + l.ending_len);
			continue;
		}
		if (edit == USERFILE_DEL)
			continue;
		/* the line keeps its own ending (LF, CRLF or none) */
		userfile_put_passwd(out, &l, hash, extras);
		userfile_put(out, l.ending, l.ending_len);
	}
	passwd_iter_deinit(&it);
	if (edit == USERFILE_ADD) {
		/* len > 0 only with text; NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
		if (f->len > 0 && f->text[f->len - 1] != '\n')
			userfile_put(out, "\n", 1);
		userfile_puts(out, name);
		userfile_put(out, ":", 1);
		userfile_puts(out, hash);
		if (extras[0] != '\0') {
			userfile_puts(out, "::::::");
			userfile_puts(out, extras + 1);
		}
		userfile_put(out, "\n", 1);
	}
	if (out->len > out->cap) {
		fprintf(stderr, "satchel user: internal error: the edited "
			"file does not fit\n");
		return EX_SOFTWARE;
	}
	return EX_OK;
}

static int userfile_replace(const char *path, const struct userfile *f,
			    const struct userfile_out *out)
{
	mode_t mode = f->exists ? (f->st.st_mode & 07777) : 0600;
	const char *error;
	struct stat st;

	if (fileio_replace(path, out->p, out->len, mode, &error) < 0) {
		int saved = errno;

		fprintf(stderr, "satchel user: %s: %s: %s\n", path, error,
			strerror(saved));
		return saved == EACCES || saved == EPERM ? EX_NOPERM :
		       saved == ENOENT || saved == ENOTDIR ? EX_CANTCREAT :
		       EX_IOERR;
	}
	/* the auth process must still be able to read the file */
	if (f->exists && stat(path, &st) == 0 &&
	    (st.st_uid != f->st.st_uid || st.st_gid != f->st.st_gid))
		fprintf(stderr, "satchel user: warning: cannot keep the "
			"owner of %s\n", path);
	return EX_OK;
}

/* Takes the edit lock; *fd_r is released by close(). */
static int userfile_lock(const char *path, int *fd_r)
{
	char lock[PATH_MAX];
	const struct timespec pause = { 0, 100 * 1000 * 1000 };
	int fd, waited = 0;

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    (int)sizeof(lock)) {
		fprintf(stderr, "satchel user: path too long\n");
		return EX_USAGE;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "satchel user: %s: %s\n", lock,
			strerror(errno));
		return errno == EACCES ? EX_NOPERM : EX_CANTCREAT;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "satchel user: flock %s: %s\n", lock,
				strerror(errno));
			close(fd);
			return EX_IOERR;
		}
		if (waited >= USERFILE_LOCK_WAIT_MS) {
			fprintf(stderr, "satchel user: %s is locked by "
				"another edit; try again\n", lock);
			close(fd);
			return EX_TEMPFAIL;
		}
		nanosleep(&pause, NULL);
		waited += 100;
	}
	*fd_r = fd;
	return EX_OK;
}

int userfile_apply(const char *path, enum userfile_edit edit,
		   const char *name, const char *hash, const char *extras)
{
	struct userfile f;
	struct userfile_out out = { NULL, 0, 0 };
	unsigned count;
	int ret, lock_fd = -1;

	ret = userfile_lock(path, &lock_fd);
	if (ret != EX_OK)
		return ret;
	ret = userfile_read(path, &f);
	if (ret != EX_OK)
		goto out_unlock;
	if (!f.exists && edit != USERFILE_ADD) {
		fprintf(stderr, "satchel user: %s disappeared\n", path);
		ret = EX_NOINPUT;
		goto out_free;
	}
	ret = userfile_check_user(path, &f, edit, name, &count);
	if (ret == EX_OK)
		ret = userfile_build(&f, edit, name, hash, extras, count,
				     &out);
	if (ret == EX_OK)
		ret = userfile_replace(path, &f, &out);
	if (out.p != NULL) {
		explicit_bzero(out.p, out.cap);
		free(out.p);
	}
out_free:
	userfile_free(&f);
out_unlock:
	close(lock_fd);
	return ret;
}

/* ---- list ---- */

static const char *userfile_scheme_name(const char *stored)
{
	static const struct {
		const char *prefix, *name;
	} crypts[] = {
		{ "$y$", "yescrypt" }, { "$gy$", "gost-yescrypt" },
		{ "$7$", "scrypt" }, { "$6$", "sha512-crypt" },
		{ "$5$", "sha256-crypt" }, { "$2b$", "bcrypt" },
		{ "$2a$", "bcrypt" }, { "$2y$", "bcrypt" },
		{ "$1$", "md5-crypt" },
	};
	/* one label at a time: printed before the next call */
	static char label[32];
	const char *hash = stored, *end;
	size_t i;

	if (!password_scheme_known(stored))
		return "unknown";
	if (stored[0] == '{') {
		end = strchr(stored, '}');
		hash = end + 1;
		if (hash[0] != '$') {
			snprintf(label, sizeof(label), "%.*s",
				 (int)(end - stored - 1), stored + 1);
			return label;
		}
	}
	for (i = 0; i < sizeof(crypts) / sizeof(crypts[0]); i++) {
		if (strncmp(hash, crypts[i].prefix,
			    strlen(crypts[i].prefix)) == 0)
			return crypts[i].name;
	}
	return "crypt";
}

void userfile_print_entry(const struct passwd_entry *e)
{
	printf("%s\t%s", e->user, userfile_scheme_name(e->password));
	/* the secret= fields' schemes, e.g. "CRYPT+SCRAM-SHA-256" */
	for (unsigned k = 0; k < e->n_secrets; k++)
		printf("+%s", userfile_scheme_name(e->secrets[k]));
	printf("%s%s\n",
	       passwd_entry_secret(e, "PLAIN") != NULL ? "\tapop" : "",
	       e->disabled ? "\tdisabled" : "");
}

int userfile_list(const char *path)
{
	struct passwd_iter it;
	struct passwd_line l;
	struct userfile f;
	int ret;

	ret = userfile_read(path, &f);
	if (ret != EX_OK)
		return ret;
	if (!f.exists) {
		fprintf(stderr, "satchel user: %s does not exist\n", path);
		return EX_NOINPUT;
	}
	passwd_iter_init(&it, f.text, f.len);
	while (passwd_iter_next(&it, &l)) {
		const struct passwd_entry *e = &l.entry;

		if (l.kind == PASSWD_LINE_BAD)
			fprintf(stderr, "%s:%u: %s\n", path, l.lineno,
				l.error);
		if (l.kind == PASSWD_LINE_USER)
			userfile_print_entry(e);
	}
	passwd_iter_deinit(&it);
	userfile_free(&f);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return EX_OK;
}
