/* usercmd.c: `satchel user`: add, change, delete and list the users of
 * the passwd-file (see usercmd.h). */
#include "user/usercmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/mailpath.h"
#include "auth/passwd.h"
#include "auth/password.h"
#include "util/config.h"
#include "util/fileio.h"

#define USERCMD_DEFAULT_CONFIG "/etc/satchel/satchel.conf"
/* RFC 2449 caps a command line at 255 octets, so a longer password could
 * never be sent with PASS anyway */
#define USERCMD_PASSWORD_MAX 255
#define USERCMD_HASH_MAX 512
/* the password field plus its secret= companions */
#define USERCMD_SCHEMES_MAX (1 + PASSWD_SECRETS_MAX)
#define USERCMD_EXTRAS_MAX (PASSWD_SECRETS_MAX * USERCMD_HASH_MAX)
#define USERCMD_LOCK_WAIT_MS 10000

enum usercmd_action { USERCMD_ADD, USERCMD_PASSWD, USERCMD_DEL, USERCMD_LIST };

struct usercmd {
	enum usercmd_action action;
	const char *config_path;
	const char *file_opt;
	const char *scheme;
	bool use_stdin;
	const char *name;
	char path[CONFIG_STR_MAX];
};

/* The passwd-file's contents and identity. */
struct usercmd_file {
	char *text;
	size_t len;
	bool exists;
	struct stat st;
};

static void usercmd_usage(FILE *out)
{
	fprintf(out,
		"usage: satchel user add|passwd|del|list [-c CONFIG] "
		"[-f PASSWD_FILE]\n"
		"                    [--scheme SCHEME[,SCHEME...]] [--stdin] "
		"[NAME]\n"
		"schemes: yescrypt (default), sha512-crypt, bcrypt, plain, "
		"scram-sha-256, scram-sha-1\n"
		"the first goes in the password field, the others in secret= "
		"fields;\nAPOP and CRAM-MD5 need plain, SCRAM-SHA-* need "
		"scram-sha-* or plain\n");
}

static void usercmd_wipe_free(struct usercmd_file *f)
{
	if (f->text != NULL) {
		explicit_bzero(f->text, f->len);
		free(f->text);
	}
	f->text = NULL;
	f->len = 0;
}

/* ---- reading the password ---- */

static struct termios usercmd_saved_tty;
static volatile sig_atomic_t usercmd_tty_fd = -1;

/* A signal while echo is off must not leave the terminal mute. */
static void usercmd_tty_signal(int signo)
{
	if (usercmd_tty_fd >= 0)
		tcsetattr(usercmd_tty_fd, TCSAFLUSH, &usercmd_saved_tty);
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Reads one line from fd into buf without the line end. 0, or -1 with
 * *error_r (too long, NUL byte, read error, nothing read). */
static int usercmd_read_line(int fd, char *buf, size_t size,
			     const char **error_r)
{
	size_t len = 0;
	bool too_long = false, nul = false;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = "cannot read the password";
			goto out_fail;
		}
		if (n == 0) {
			if (len == 0) {
				*error_r = "no password given";
				goto out_fail;
			}
			break;
		}
		if (c == '\n')
			break;
		if (c == '\0')
			nul = true;
		if (len + 1 >= size)
			too_long = true;
		else
			buf[len++] = c;
	}
	c = 0;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (too_long) {
		*error_r = "password too long";
		goto out_fail;
	}
	if (nul) {
		*error_r = "NUL byte in the password";
		goto out_fail;
	}
	return 0;

out_fail:
	explicit_bzero(buf, size);
	return -1;
}

static int usercmd_prompt(int fd, const char *prompt, char *buf, size_t size,
			  const char **error_r)
{
	struct termios quiet;
	int ret;

	if (write(fd, prompt, strlen(prompt)) < 0) {
		*error_r = "cannot write to the terminal";
		return -1;
	}
	ret = usercmd_read_line(fd, buf, size, error_r);
	/* ECHONL is off with ECHO on some systems: end the line ourselves */
	if (tcgetattr(fd, &quiet) == 0 && !(quiet.c_lflag & ECHONL))
		(void)!write(fd, "\n", 1);
	return ret;
}

/* Asks twice on the terminal, echo off. */
static int usercmd_read_tty(char *buf, size_t size, const char **error_r)
{
	struct sigaction sa, old_int, old_term, old_quit, old_tstp;
	struct termios quiet;
	char *again;
	int fd, ret = -1;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || tcgetattr(fd, &usercmd_saved_tty) < 0) {
		*error_r = "no terminal to read the password from "
			   "(use --stdin)";
		if (fd >= 0)
			close(fd);
		return -1;
	}
	again = malloc(size);
	if (again == NULL) {
		*error_r = "out of memory";
		goto out_close;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usercmd_tty_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGQUIT, &sa, &old_quit);
	sigaction(SIGTSTP, &sa, &old_tstp);
	usercmd_tty_fd = fd;
	quiet = usercmd_saved_tty;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		*error_r = "cannot turn off echo";
		goto out_restore;
	}
	if (usercmd_prompt(fd, "New password: ", buf, size, error_r) < 0 ||
	    usercmd_prompt(fd, "Retype new password: ", again, size,
			   error_r) < 0)
		goto out_restore;
	if (strcmp(buf, again) != 0) {
		*error_r = "passwords do not match";
		goto out_restore;
	}
	ret = 0;
out_restore:
	tcsetattr(fd, TCSAFLUSH, &usercmd_saved_tty);
	usercmd_tty_fd = -1;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTSTP, &old_tstp, NULL);
	explicit_bzero(again, size);
	free(again);
out_close:
	close(fd);
	if (ret < 0)
		explicit_bzero(buf, size);
	return ret;
}

/* Splits "a,b,c" into names (pointing into buf); plain moves first, as
 * a plaintext password may hold blanks, which secret= fields cannot. */
static int usercmd_split_schemes(const char *list, char *buf, size_t size,
				 const char **names, size_t *n_r)
{
	char *save = NULL, *p;
	size_t n = 0, i;

	if (snprintf(buf, size, "%s", list) >= (int)size)
		return -1;
	for (p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (n == USERCMD_SCHEMES_MAX)
			return -1;
		for (i = 0; i < n; i++) {
			if (strcmp(names[i], p) == 0)
				return -1;
		}
		names[n++] = p;
	}
	for (i = 1; i < n; i++) {
		if (strcmp(names[i], "plain") == 0) {
			names[i] = names[0];
			names[0] = "plain";
		}
	}
	*n_r = n;
	return n > 0 ? 0 : -1;
}

/* What the stored secrets allow, so the admin is not surprised. */
static void usercmd_note_mechanisms(const char *const *names, size_t n)
{
	bool plain = false, scram256 = false, scram1 = false;
	size_t i;

	for (i = 0; i < n; i++) {
		plain |= strcmp(names[i], "plain") == 0;
		scram256 |= strcmp(names[i], "scram-sha-256") == 0;
		scram1 |= strcmp(names[i], "scram-sha-1") == 0;
	}
	if (plain) {
		fprintf(stderr, "satchel user: note: stored in plaintext: "
			"needed for APOP and CRAM-MD5; every mechanism "
			"works\n");
		return;
	}
	fprintf(stderr, "satchel user: note: usable: USER/PASS, AUTH PLAIN "
		"and LOGIN%s%s; not APOP or CRAM-MD5 (they need "
		"--scheme plain)\n",
		scram256 ? ", SCRAM-SHA-256(-PLUS)" : "",
		scram1 ? ", SCRAM-SHA-1(-PLUS)" : "");
}

/* Reads the password and turns it into the stored "{SCHEME}..." form
 * (hash, the password field) and " secret={SCHEME}..." fields (extras,
 * "" when one scheme was asked for). */
static int usercmd_new_secret(const struct usercmd *cmd, char *hash,
			      size_t hash_size, char *extras,
			      size_t extras_size)
{
	char list[256], one[USERCMD_HASH_MAX];
	const char *names[USERCMD_SCHEMES_MAX];
	size_t n = 0, i, used = 0;
	char password[USERCMD_PASSWORD_MAX + 1];
	const char *error = NULL;
	int ret = EX_DATAERR;

	if (cmd->use_stdin) {
		if (usercmd_read_line(STDIN_FILENO, password,
				      sizeof(password), &error) < 0)
			goto out_error;
	} else if (usercmd_read_tty(password, sizeof(password),
				    &error) < 0) {
		goto out_error;
	}
	if (password[0] == '\0') {
		error = "empty password refused";
		goto out_error;
	}
	if (usercmd_split_schemes(cmd->scheme, list, sizeof(list), names,
				  &n) < 0) {
		error = "bad scheme list";
		goto out_error;
	}
	extras[0] = '\0';
	for (i = 0; i < n; i++) {
		char *dst = i == 0 ? hash : one;
		size_t size = i == 0 ? hash_size : sizeof(one);
		int len;

		if (password_hash(names[i], password, dst, size) < 0) {
			error = strcmp(names[i], "plain") == 0 ?
				"a plaintext password cannot contain ':' or "
				"control characters" : "hashing failed";
			ret = strcmp(names[i], "plain") == 0 ? EX_DATAERR :
				EX_SOFTWARE;
			goto out_error;
		}
		if (i == 0)
			continue;
		len = snprintf(extras + used, extras_size - used,
			       " secret=%s", one);
		explicit_bzero(one, sizeof(one));
		if (len < 0 || (size_t)len >= extras_size - used) {
			error = "secrets too long";
			ret = EX_SOFTWARE;
			goto out_error;
		}
		used += (size_t)len;
	}
	explicit_bzero(password, sizeof(password));
	usercmd_note_mechanisms(names, n);
	return 0;

out_error:
	explicit_bzero(password, sizeof(password));
	explicit_bzero(hash, hash_size);
	explicit_bzero(extras, extras_size);
	fprintf(stderr, "satchel user: %s\n", error);
	return ret;
}

/* ---- the file ---- */

static int usercmd_read_file(const char *path, struct usercmd_file *f)
{
	size_t size;
	int fd, ret = EX_IOERR;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
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
	return 0;

out_free:
	usercmd_wipe_free(f);
out_close:
	close(fd);
	return ret;
}

/* The user name of a line [line, eol), or NULL for comments, blank lines
 * and lines without a ':' (kept as they are). */
static const char *usercmd_line_user(const char *line, const char *eol,
				     size_t *len_r)
{
	const char *p = line, *colon;

	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	if (p == eol || *p == '#' || *p == '\r')
		return NULL;
	colon = memchr(line, ':', (size_t)(eol - line));
	if (colon == NULL)
		return NULL;
	*len_r = (size_t)(colon - line);
	return line;
}

static unsigned usercmd_count_user(const struct usercmd_file *f,
				   const char *name)
{
	const char *line = f->text, *end = f->text + f->len, *eol, *user;
	size_t name_len = strlen(name), len;
	unsigned count = 0;

	for (; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		user = usercmd_line_user(line, eol, &len);
		if (user != NULL && len == name_len &&
		    memcmp(user, name, len) == 0)
			count++;
	}
	return count;
}

/* Writes f's contents, edited for cmd, to out. */
/* True when the extra-field token [p, end) is a secret= field. */
static bool usercmd_is_secret_field(const char *p, const char *end)
{
	size_t len = (size_t)(end - p);

	if (len > 7 && strncmp(p, "userdb_", 7) == 0) {
		p += 7;
		len -= 7;
	}
	return len >= 7 && strncmp(p, "secret=", 7) == 0;
}

/* Writes fields 3 to 7 and the extra fields of a user's line after a new
 * password: old secret= fields go (they belong to the old password), the
 * new ones (extras) are added; other fields stay as they were. */
static void usercmd_write_rest(const char *rest, const char *end,
			       const char *extras, FILE *out)
{
	const char *p, *seventh = NULL;
	unsigned colons = 0;
	bool wrote = false;

	/* rest starts at the ':' after the password (or is empty); the
	 * 6th ':' in it is the line's 7th, where the extra fields start */
	for (p = rest; p < end; p++) {
		if (*p == ':' && ++colons == 6) {
			seventh = p;
			break;
		}
	}
	if (seventh == NULL) {
		fwrite(rest, 1, (size_t)(end - rest), out);
		if (extras[0] == '\0')
			return;
		for (; colons < 6; colons++)
			fputc(':', out);
		fputs(extras + 1, out);
		return;
	}
	fwrite(rest, 1, (size_t)(seventh + 1 - rest), out);
	for (p = seventh + 1; p < end;) {
		const char *tok_end = p + strcspn(p, " \t");

		if (tok_end > end)
			tok_end = end;
		if (usercmd_is_secret_field(p, tok_end)) {
			for (p = tok_end; p < end && (*p == ' ' || *p == '\t');)
				p++;
			continue;
		}
		if (wrote)
			fputc(' ', out);
		fwrite(p, 1, (size_t)(tok_end - p), out);
		wrote = true;
		for (p = tok_end; p < end && (*p == ' ' || *p == '\t');)
			p++;
	}
	if (extras[0] != '\0')
		fputs(wrote ? extras : extras + 1, out);
}

static int usercmd_write_edited(const struct usercmd *cmd,
				const struct usercmd_file *f,
				const char *hash, const char *extras,
				FILE *out)
{
	const char *line = f->text, *end = f->text + f->len, *eol, *user;
	size_t name_len = strlen(cmd->name), len;

	for (; f->text != NULL && line < end; line = eol) {
		const char *next = memchr(line, '\n', (size_t)(end - line));
		const char *content_end, *pw_end;

		eol = next != NULL ? next + 1 : end;
		user = usercmd_line_user(line, eol, &len);
		if (user == NULL || len != name_len ||
		    memcmp(user, cmd->name, len) != 0) {
			fwrite(line, 1, (size_t)(eol - line), out);
			continue;
		}
		if (cmd->action == USERCMD_DEL)
			continue;
		/* passwd: replace field 2 only; keep the rest and the
		 * line's own ending (LF, CRLF or none) */
		content_end = next != NULL ? next : end;
		if (content_end > line && content_end[-1] == '\r')
			content_end--;
		pw_end = memchr(line + len + 1, ':',
				(size_t)(content_end - (line + len + 1)));
		if (pw_end == NULL)
			pw_end = content_end;
		fwrite(line, 1, len + 1, out);
		fputs(hash, out);
		usercmd_write_rest(pw_end, content_end, extras, out);
		fwrite(content_end, 1, (size_t)(eol - content_end), out);
	}
	if (cmd->action == USERCMD_ADD) {
		if (f->len > 0 && f->text[f->len - 1] != '\n')
			fputc('\n', out);
		fprintf(out, "%s:%s%s%s\n", cmd->name, hash,
			extras[0] != '\0' ? "::::::" : "",
			extras[0] != '\0' ? extras + 1 : "");
	}
	return ferror(out) ? -1 : 0;
}

/* Writes the edited file next to the old one and renames it into place:
 * readers (the auth process) see the old or the new file, never half. */
static int usercmd_replace(const struct usercmd *cmd,
			   const struct usercmd_file *f, const char *hash,
			   const char *extras)
{
	char tmp[CONFIG_STR_MAX + 16];
	mode_t mode = f->exists ? (f->st.st_mode & 07777) : 0600;
	FILE *out;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", cmd->path) >=
	    (int)sizeof(tmp)) {
		fprintf(stderr, "satchel user: path too long\n");
		return EX_USAGE;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "satchel user: %s: %s\n", tmp,
			strerror(errno));
		return errno == EACCES ? EX_NOPERM : EX_CANTCREAT;
	}
	if (fchmod(fd, mode) < 0)
		goto out_errno;
	/* keep the owner, so the auth process can still read the file */
	if (f->exists && (f->st.st_uid != geteuid() ||
			  f->st.st_gid != getegid()) &&
	    fchown(fd, f->st.st_uid, f->st.st_gid) < 0)
		fprintf(stderr, "satchel user: warning: cannot keep the "
			"owner of %s: %s\n", cmd->path, strerror(errno));
	out = fdopen(fd, "w");
	if (out == NULL)
		goto out_errno;
	fd = -1;
	if (usercmd_write_edited(cmd, f, hash, extras, out) < 0 ||
	    fflush(out) != 0 || fsync(fileno(out)) < 0) {
		fprintf(stderr, "satchel user: %s: %s\n", tmp,
			strerror(errno));
		fclose(out);
		goto out_unlink;
	}
	if (fclose(out) != 0)
		goto out_errno;
	if (rename(tmp, cmd->path) < 0)
		goto out_errno;
	if (fileio_fsync_parent(cmd->path) < 0)
		fprintf(stderr, "satchel user: warning: fsync of the "
			"directory of %s: %s\n", cmd->path, strerror(errno));
	return EX_OK;

out_errno:
	fprintf(stderr, "satchel user: %s: %s\n", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
out_unlink:
	unlink(tmp);
	return EX_IOERR;
}

/* Takes the edit lock; *fd_r is released by close(). */
static int usercmd_lock(const char *path, int *fd_r)
{
	char lock[CONFIG_STR_MAX + 8];
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
		if (waited >= USERCMD_LOCK_WAIT_MS) {
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

/* Checks the user's presence as the action needs it. */
static int usercmd_check_user(const struct usercmd *cmd,
			      const struct usercmd_file *f)
{
	unsigned count = usercmd_count_user(f, cmd->name);

	if (cmd->action == USERCMD_ADD && count > 0) {
		fprintf(stderr, "satchel user: %s already exists in %s\n",
			cmd->name, cmd->path);
		return EX_DATAERR;
	}
	if (cmd->action != USERCMD_ADD && count == 0) {
		fprintf(stderr, "satchel user: no user %s in %s\n",
			cmd->name, cmd->path);
		return EX_NOUSER;
	}
	if (count > 1) {
		fprintf(stderr, "satchel user: warning: %s appears %u times "
			"(the server refuses such a file); changing all\n",
			cmd->name, count);
	}
	return EX_OK;
}

static int usercmd_edit(const struct usercmd *cmd)
{
	char hash[USERCMD_HASH_MAX] = "", extras[USERCMD_EXTRAS_MAX] = "";
	struct usercmd_file f;
	int ret, lock_fd = -1;

	/* a first look before asking for the password, so a typo in the
	 * name is reported at once; checked again under the lock */
	ret = usercmd_read_file(cmd->path, &f);
	if (ret != EX_OK)
		return ret;
	if (!f.exists && cmd->action != USERCMD_ADD) {
		fprintf(stderr, "satchel user: %s does not exist\n",
			cmd->path);
		return EX_NOINPUT;
	}
	ret = usercmd_check_user(cmd, &f);
	usercmd_wipe_free(&f);
	if (ret != EX_OK)
		return ret;
	if (cmd->action != USERCMD_DEL) {
		ret = usercmd_new_secret(cmd, hash, sizeof(hash), extras,
					 sizeof(extras));
		if (ret != EX_OK)
			return ret;
	}

	ret = usercmd_lock(cmd->path, &lock_fd);
	if (ret != EX_OK)
		goto out_wipe;
	ret = usercmd_read_file(cmd->path, &f);
	if (ret != EX_OK)
		goto out_unlock;
	if (!f.exists && cmd->action != USERCMD_ADD) {
		fprintf(stderr, "satchel user: %s disappeared\n", cmd->path);
		ret = EX_NOINPUT;
		goto out_free;
	}
	ret = usercmd_check_user(cmd, &f);
	if (ret == EX_OK)
		ret = usercmd_replace(cmd, &f, hash, extras);
out_free:
	usercmd_wipe_free(&f);
out_unlock:
	close(lock_fd);
out_wipe:
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(extras, sizeof(extras));
	return ret;
}

/* ---- list ---- */

static const char *usercmd_scheme_name(const char *stored)
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

static int usercmd_list(const struct usercmd *cmd)
{
	const char *line, *end, *eol, *error;
	struct usercmd_file f;
	char *copy;
	unsigned lineno = 0;
	int ret;

	ret = usercmd_read_file(cmd->path, &f);
	if (ret != EX_OK)
		return ret;
	if (!f.exists) {
		fprintf(stderr, "satchel user: %s does not exist\n",
			cmd->path);
		return EX_NOINPUT;
	}
	copy = malloc(PASSWD_LINE_MAX + 1);
	if (copy == NULL) {
		usercmd_wipe_free(&f);
		return EX_OSERR;
	}
	end = f.text + f.len;
	for (line = f.text; line < end; line = eol + 1) {
		struct passwd_entry e;
		size_t len;

		lineno++;
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		len = (size_t)(eol - line);
		if (len > PASSWD_LINE_MAX ||
		    memchr(line, '\0', len) != NULL) {
			fprintf(stderr, "%s:%u: line too long or with a NUL "
				"byte\n", cmd->path, lineno);
			continue;
		}
		memcpy(copy, line, len);
		copy[len] = '\0';
		ret = passwd_parse_line(copy, &e, &error);
		if (ret < 0)
			fprintf(stderr, "%s:%u: %s\n", cmd->path, lineno,
				error);
		if (ret != 0)
			continue;
		printf("%s\t%s", e.user, usercmd_scheme_name(e.password));
		/* the secret= fields' schemes, e.g. "CRYPT+SCRAM-SHA-256" */
		for (unsigned k = 0; k < e.n_secrets; k++)
			printf("+%s", usercmd_scheme_name(e.secrets[k]));
		printf("%s%s\n",
		       passwd_entry_secret(&e, "PLAIN") != NULL ?
		       "\tapop" : "", e.disabled ? "\tdisabled" : "");
	}
	explicit_bzero(copy, PASSWD_LINE_MAX + 1);
	free(copy);
	usercmd_wipe_free(&f);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return EX_OK;
}

/* ---- arguments ---- */

static int usercmd_find_path(struct usercmd *cmd)
{
	struct config cfg;
	char err[512];
	const char *cfg_path = cmd->config_path;
	int n;

	if (cmd->file_opt != NULL) {
		n = snprintf(cmd->path, sizeof(cmd->path), "%s",
			     cmd->file_opt);
		goto out_check;
	}
	config_defaults(&cfg);
	if (cfg_path == NULL) {
		cfg_path = USERCMD_DEFAULT_CONFIG;
		/* no config file at the default place: the defaults */
		if (access(cfg_path, F_OK) < 0 && errno == ENOENT)
			cfg_path = NULL;
	}
	if (cfg_path != NULL &&
	    config_load_file(&cfg, cfg_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel user: %s\n", err);
		return EX_CONFIG;
	}
	if (config_finish(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel user: %s\n", err);
		return EX_CONFIG;
	}
	if (cfg.passwd_file[0] == '\0') {
		fprintf(stderr, "satchel user: the users setting names no "
			"passwd-file\n");
		return EX_CONFIG;
	}
	n = snprintf(cmd->path, sizeof(cmd->path), "%s", cfg.passwd_file);
out_check:
	if (n < 0 || (size_t)n >= sizeof(cmd->path) || cmd->path[0] == '\0') {
		fprintf(stderr, "satchel user: bad passwd-file path\n");
		return EX_USAGE;
	}
	return EX_OK;
}

/* A name the server could use: safe in a path and in the file format. */
static bool usercmd_name_ok(const char *name)
{
	return mailpath_user_valid(name) && strlen(name) <= PASSWD_USER_MAX &&
	       strpbrk(name, ": \t#") == NULL;
}

static int usercmd_parse_args(int argc, char **argv, struct usercmd *cmd)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "scheme", required_argument, NULL, 's' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const schemes[] = {
		"yescrypt", "sha512-crypt", "bcrypt", "plain",
		"scram-sha-256", "scram-sha-1",
	};
	static const char *const actions[] = {
		[USERCMD_ADD] = "add", [USERCMD_PASSWD] = "passwd",
		[USERCMD_DEL] = "del", [USERCMD_LIST] = "list",
	};
	const char *action;
	size_t i;
	int c, nargs;
	bool scheme_ok = false;

	memset(cmd, 0, sizeof(*cmd));
	cmd->scheme = "yescrypt";
	optind = 0; /* glibc: full re-initialisation, main may have parsed */
	while ((c = getopt_long(argc, argv, "c:f:s:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cmd->config_path = optarg;
			break;
		case 'f':
			cmd->file_opt = optarg;
			break;
		case 's':
			cmd->scheme = optarg;
			break;
		case 'i':
			cmd->use_stdin = true;
			break;
		case 'h':
			usercmd_usage(stdout);
			exit(EX_OK);
		default:
			usercmd_usage(stderr);
			return EX_USAGE;
		}
	}
	{
		char list[256];
		const char *names[USERCMD_SCHEMES_MAX];
		size_t n = 0, j;

		scheme_ok = usercmd_split_schemes(cmd->scheme, list,
						  sizeof(list), names,
						  &n) == 0;
		for (j = 0; scheme_ok && j < n; j++) {
			bool known = false;

			for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]);
			     i++)
				known |= strcmp(names[j], schemes[i]) == 0;
			scheme_ok = known;
		}
	}
	if (!scheme_ok) {
		fprintf(stderr, "satchel user: unknown scheme %s\n",
			cmd->scheme);
		return EX_USAGE;
	}
	nargs = argc - optind;
	if (nargs < 1) {
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	action = argv[optind];
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(action, actions[i]) == 0)
			break;
	}
	if (i == sizeof(actions) / sizeof(actions[0])) {
		fprintf(stderr, "satchel user: unknown action %s\n", action);
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	cmd->action = (enum usercmd_action)i;
	if (nargs != (cmd->action == USERCMD_LIST ? 1 : 2)) {
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	if (cmd->action == USERCMD_LIST)
		return EX_OK;
	cmd->name = argv[optind + 1];
	if (cmd->action == USERCMD_ADD ? !usercmd_name_ok(cmd->name) :
	    cmd->name[0] == '\0' || strpbrk(cmd->name, ":\n") != NULL) {
		fprintf(stderr, "satchel user: bad user name (no '/', ':', "
			"blanks, control characters or leading '.'; at most "
			"%d octets)\n", PASSWD_USER_MAX);
		return EX_DATAERR;
	}
	return EX_OK;
}

int usercmd_main(int argc, char **argv)
{
	struct usercmd cmd;
	int ret;

	ret = usercmd_parse_args(argc, argv, &cmd);
	if (ret != EX_OK)
		return ret;
	ret = usercmd_find_path(&cmd);
	if (ret != EX_OK)
		return ret;
	if (cmd.action == USERCMD_LIST)
		return usercmd_list(&cmd);
	return usercmd_edit(&cmd);
}
