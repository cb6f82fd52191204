/* usersecret.c: reading a new password and hashing it for `satchel
 * user` (see usersecret.h). */
#include "user/usersecret.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/saslprep.h"

static struct termios usersecret_saved_tty;
static volatile sig_atomic_t usersecret_tty_fd = -1;

/* A signal while echo is off must not leave the terminal mute. */
static void usersecret_tty_signal(int signo)
{
	if (usersecret_tty_fd >= 0)
		tcsetattr(usersecret_tty_fd, TCSAFLUSH, &usersecret_saved_tty);
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Reads one line from fd into buf without the line end. 0, or -1 with
 * *error_r (too long, NUL byte, read error, nothing read). */
static int usersecret_read_line(int fd, char *buf, size_t size,
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

static int usersecret_prompt(int fd, const char *prompt, char *buf,
			     size_t size, const char **error_r)
{
	struct termios quiet;
	int ret;

	if (write(fd, prompt, strlen(prompt)) < 0) {
		*error_r = "cannot write to the terminal";
		return -1;
	}
	ret = usersecret_read_line(fd, buf, size, error_r);
	/* ECHONL is off with ECHO on some systems: end the line ourselves */
	if (tcgetattr(fd, &quiet) == 0 && !(quiet.c_lflag & ECHONL))
		(void)!write(fd, "\n", 1);
	return ret;
}

/* Asks twice on the terminal, echo off. */
static int usersecret_read_tty(char *buf, size_t size, const char **error_r)
{
	struct sigaction sa, old_int, old_term, old_quit, old_tstp;
	struct termios quiet;
	char *again;
	int fd, ret = -1;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || tcgetattr(fd, &usersecret_saved_tty) < 0) {
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
	sa.sa_handler = usersecret_tty_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGQUIT, &sa, &old_quit);
	sigaction(SIGTSTP, &sa, &old_tstp);
	usersecret_tty_fd = fd;
	quiet = usersecret_saved_tty;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		*error_r = "cannot turn off echo";
		goto out_restore;
	}
	if (usersecret_prompt(fd, "New password: ", buf, size, error_r) < 0 ||
	    usersecret_prompt(fd, "Retype new password: ", again, size,
			      error_r) < 0)
		goto out_restore;
	if (strcmp(buf, again) != 0) {
		*error_r = "passwords do not match";
		goto out_restore;
	}
	ret = 0;
out_restore:
	tcsetattr(fd, TCSAFLUSH, &usersecret_saved_tty);
	usersecret_tty_fd = -1;
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
static int usersecret_split(const char *list, char *buf, size_t size,
			    const char **names, size_t *n_r)
{
	char *save = NULL, *p;
	size_t n = 0, i;

	if (snprintf(buf, size, "%s", list) >= (int)size)
		return -1;
	for (p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (n == USERSECRET_SCHEMES_MAX)
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

bool usersecret_schemes_valid(const char *list)
{
	static const char *const known[] = {
		"yescrypt", "sha512-crypt", "bcrypt", "plain",
		"scram-sha-256", "scram-sha-1",
	};
	char buf[256];
	const char *names[USERSECRET_SCHEMES_MAX];
	size_t n = 0, i, j;

	if (usersecret_split(list, buf, sizeof(buf), names, &n) < 0)
		return false;
	for (j = 0; j < n; j++) {
		bool found = false;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			found |= strcmp(names[j], known[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* What the stored secrets allow, so the admin is not surprised. */
static void usersecret_note(const char *const *names, size_t n)
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

/* A UTF-8 password is hashed SASLprep'd as a stored string: what a
 * client in UTF-8 mode sends (RFC 6856 3.) and what SCRAM derives its
 * keys from (RFC 5802 2.2). One that is not UTF-8 (an 8-bit password
 * of a client from before RFC 6856) is kept as typed. 0, or -1 with
 * *error_r. */
static int usersecret_prepare(char *password, size_t size,
			      const char **error_r)
{
	char prepared[USERSECRET_PASSWORD_MAX + 1];

	if (!saslprep_non_ascii(password) ||
	    !saslprep_utf8_valid(password, strlen(password)))
		return 0;
	if (saslprep_string(password, SASLPREP_STORED, prepared,
			    sizeof(prepared)) < 0 ||
	    strlen(prepared) >= size) {
		explicit_bzero(prepared, sizeof(prepared));
		*error_r = "the password has characters SASLprep (RFC 4013) "
			   "refuses";
		return -1;
	}
	memcpy(password, prepared, strlen(prepared) + 1);
	explicit_bzero(prepared, sizeof(prepared));
	return 0;
}

int usersecret_make(const char *schemes, bool use_stdin, char *hash,
		    size_t hash_size, char *extras, size_t extras_size)
{
	char list[256], one[USERSECRET_HASH_MAX];
	const char *names[USERSECRET_SCHEMES_MAX];
	size_t n = 0, i, used = 0;
	char password[USERSECRET_PASSWORD_MAX + 1];
	const char *error = NULL;
	int ret = EX_DATAERR;

	if (use_stdin) {
		if (usersecret_read_line(STDIN_FILENO, password,
					 sizeof(password), &error) < 0)
			goto out_error;
	} else if (usersecret_read_tty(password, sizeof(password),
				       &error) < 0) {
		goto out_error;
	}
	if (password[0] == '\0') {
		error = "empty password refused";
		goto out_error;
	}
	if (usersecret_prepare(password, sizeof(password), &error) < 0)
		goto out_error;
	if (usersecret_split(schemes, list, sizeof(list), names, &n) < 0) {
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
	usersecret_note(names, n);
	return 0;

out_error:
	explicit_bzero(password, sizeof(password));
	explicit_bzero(hash, hash_size);
	explicit_bzero(extras, extras_size);
	fprintf(stderr, "satchel user: %s\n", error);
	return ret;
}
