/* fetch_password.c: where a fetch account's secret comes from
 * (fetch_password.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "fetch/fetch_password.h"

/* Reads up to size - 1 octets from fd and keeps the first line. */
static int fetch_password_read(int fd, char *out, size_t size,
			       const char **error_r)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1) {
		n = read(fd, out + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = "cannot read the password";
			return -1;
		}
		if (n == 0 || memchr(out + len, '\n', (size_t)n) != NULL) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	out[len] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		*error_r = "the password is empty";
		return -1;
	}
	return 0;
}

static int fetch_password_file(const char *path, char *out, size_t size,
			       const char **error_r)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), ret;

	if (fd < 0) {
		*error_r = "cannot open the password file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*error_r = "the password file is not a regular file";
		return -1;
	}
	/* anyone else who can read it has the account too */
	if ((st.st_mode & 077) != 0) {
		close(fd);
		*error_r = "the password file may be read by others: "
			   "chmod 600 it";
		return -1;
	}
	ret = fetch_password_read(fd, out, size, error_r);
	close(fd);
	return ret;
}

static int fetch_password_command(const char *command, char *out,
				  size_t size, const char **error_r)
{
	int fds[2], status, ret;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = "cannot make a pipe";
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		*error_r = "cannot fork";
		return -1;
	}
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	ret = fetch_password_read(fds[0], out, size, error_r);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		explicit_bzero(out, size);
		*error_r = "the password command failed";
		return -1;
	}
	return ret;
}

static int fetch_password_tty(const char *prompt_for, char *out, size_t size,
			      const char **error_r)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY), ret;

	if (fd < 0) {
		*error_r = "no password given (--password-file or "
			   "--password-command) and no terminal to ask on";
		return -1;
	}
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		*error_r = "cannot set up the terminal";
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	dprintf(fd, "password for %s: ", prompt_for);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	ret = fetch_password_read(fd, out, size, error_r);
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	return ret;
}

int fetch_password_get(const char *file, const char *command,
		       const char *prompt_for, char *out, size_t size,
		       const char **error_r)
{
	if (file != NULL && command != NULL) {
		*error_r = "give --password-file or --password-command, not "
			   "both";
		return -1;
	}
	if (file != NULL)
		return fetch_password_file(file, out, size, error_r);
	if (command != NULL)
		return fetch_password_command(command, out, size, error_r);
	return fetch_password_tty(prompt_for, out, size, error_r);
}
