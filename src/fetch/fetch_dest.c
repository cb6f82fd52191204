/* fetch_dest.c: the fetch client's destinations (fetch_dest.h): the
 * table of kinds and the MDA (fetch_store.c has Maildir and mbox,
 * fetch_smtp.c LMTP and SMTP). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "fetch/fetch_dest_private.h"
#include "util/fileio.h"

/* The MDA: a child per message, the message on a pipe to its stdin. */
struct fetch_mda {
	pid_t pid;
	int fd;
};

static int fetch_mda_open(struct fetch_dest *dest, const char *arg,
			  const char **error_r)
{
	struct fetch_mda *mda = calloc(1, sizeof(*mda));

	if (mda == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	mda->pid = -1;
	mda->fd = -1;
	dest->impl = mda;
	if (arg[0] == '\0') {
		*error_r = "mda: needs a command";
		return -1;
	}
	return 0;
}

/* Waits for the child; its exit status as a result. */
static enum fetch_dest_result fetch_mda_wait(struct fetch_dest *dest,
					     const char **error_r)
{
	struct fetch_mda *mda = dest->impl;
	int status;

	while (waitpid(mda->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			*error_r = "mda: cannot wait for the command";
			mda->pid = -1;
			return FETCH_DEST_TEMP;
		}
	}
	mda->pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return FETCH_DEST_OK;
	if (WIFEXITED(status))
		snprintf(dest->error_buf, sizeof(dest->error_buf),
			 "mda: the command exited with %d",
			 WEXITSTATUS(status));
	else
		snprintf(dest->error_buf, sizeof(dest->error_buf),
			 "mda: the command was killed by signal %d",
			 WTERMSIG(status));
	*error_r = dest->error_buf;
	/* sysexits: 75 is "try again"; anything else refused it */
	return WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL ?
		       FETCH_DEST_TEMP :
		       FETCH_DEST_PERM;
}

static void fetch_mda_abort(struct fetch_dest *dest)
{
	struct fetch_mda *mda = dest->impl;
	const char *error;

	if (mda->fd >= 0)
		close(mda->fd);
	mda->fd = -1;
	if (mda->pid > 0) {
		/* it must not take a half message as a whole one */
		kill(mda->pid, SIGKILL);
		fetch_mda_wait(dest, &error);
	}
}

static void fetch_mda_close(struct fetch_dest *dest)
{
	if (dest->impl != NULL)
		fetch_mda_abort(dest);
	free(dest->impl);
}

static int fetch_mda_begin(struct fetch_dest *dest, const char *key,
			   const struct fetch_envelope *env,
			   const char **error_r)
{
	struct fetch_mda *mda = dest->impl;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = "mda: cannot make a pipe";
		return -1;
	}
	mda->pid = fork();
	if (mda->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		*error_r = "mda: cannot fork";
		return -1;
	}
	if (mda->pid == 0) {
		if (dup2(fds[0], STDIN_FILENO) < 0)
			_exit(EX_OSERR);
		/* the names qmail gives its delivery programs */
		if (env != NULL && (setenv("SENDER", env->sender, 1) < 0 ||
				    setenv("RECIPIENT", env->rcpt, 1) < 0))
			_exit(EX_OSERR);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", dest->arg, (char *)NULL);
		_exit(EX_OSERR);
	}
	close(fds[0]);
	mda->fd = fds[1];
	return 0;
}

static int fetch_mda_write(struct fetch_dest *dest, const char *data,
			   size_t len, const char **error_r)
{
	struct fetch_mda *mda = dest->impl;

	if (fileio_write_all(mda->fd, data, len) < 0) {
		*error_r = errno == EPIPE ? "mda: the command did not read "
					    "the whole message" :
					    "mda: cannot write to the command";
		return -1;
	}
	return 0;
}

static enum fetch_dest_result fetch_mda_commit(struct fetch_dest *dest,
					       const char **error_r)
{
	struct fetch_mda *mda = dest->impl;

	close(mda->fd);
	mda->fd = -1;
	return fetch_mda_wait(dest, error_r);
}

static const struct fetch_dest_ops fetch_dest_mda_ops = {
	"mda:", fetch_mda_open, fetch_mda_close, fetch_mda_begin,
	fetch_mda_write, fetch_mda_commit, fetch_mda_abort, NULL,
};

static const struct fetch_dest_ops *const fetch_dest_kinds[] = {
	&fetch_dest_maildir_ops, &fetch_dest_mbox_ops, &fetch_dest_mda_ops,
	&fetch_dest_lmtp_ops, &fetch_dest_smtp_ops,
};

int fetch_dest_open(const char *spec, const struct fetch_dest_settings *set,
		    struct fetch_dest **dest_r, const char **error_r)
{
	const struct fetch_dest_ops *ops = NULL;
	struct fetch_dest *dest;
	size_t i, n;

	for (i = 0; i < sizeof(fetch_dest_kinds) / sizeof(fetch_dest_kinds[0]);
	     i++) {
		n = strlen(fetch_dest_kinds[i]->prefix);
		if (strncmp(spec, fetch_dest_kinds[i]->prefix, n) == 0) {
			ops = fetch_dest_kinds[i];
			break;
		}
	}
	if (ops == NULL) {
		*error_r = "unknown destination (maildir:PATH, mbox:PATH, "
			   "mda:COMMAND, lmtp:HOST:PORT, lmtp:unix:PATH or "
			   "smtp:HOST:PORT)";
		return -1;
	}
	dest = calloc(1, sizeof(*dest));
	if (dest == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	dest->ops = ops;
	dest->set = *set;
	if (strlen(spec + n) >= sizeof(dest->arg)) {
		free(dest);
		*error_r = "destination too long";
		return -1;
	}
	memcpy(dest->arg, spec + n, strlen(spec + n) + 1);
	if (ops->open(dest, dest->arg, error_r) < 0) {
		fetch_dest_close(&dest);
		return -1;
	}
	*dest_r = dest;
	return 0;
}

void fetch_dest_close(struct fetch_dest **destp)
{
	struct fetch_dest *dest = *destp;

	if (dest == NULL)
		return;
	dest->ops->close(dest);
	free(dest);
	*destp = NULL;
}

int fetch_dest_begin(struct fetch_dest *dest, const char *key,
		     const struct fetch_envelope *env, const char **error_r)
{
	return dest->ops->begin(dest, key, env, error_r);
}

int fetch_dest_write(struct fetch_dest *dest, const char *data, size_t len,
		     const char **error_r)
{
	return dest->ops->write(dest, data, len, error_r);
}

enum fetch_dest_result fetch_dest_commit(struct fetch_dest *dest,
					 const char **error_r)
{
	return dest->ops->commit(dest, error_r);
}

void fetch_dest_abort(struct fetch_dest *dest)
{
	dest->ops->abort(dest);
}

int fetch_dest_flush(struct fetch_dest *dest, const char **error_r)
{
	return dest->ops->flush != NULL ? dest->ops->flush(dest, error_r) : 0;
}

bool fetch_dest_has_keys(const struct fetch_dest *dest)
{
	return dest->ops == &fetch_dest_maildir_ops;
}

int fetch_dest_keys(struct fetch_dest *dest,
		    bool (*fn)(const char *key, size_t len, void *context),
		    void *context, const char **error_r)
{
	return fetch_store_keys(dest, fn, context, error_r);
}

int fetch_dest_heads(struct fetch_dest *dest,
		     void (*fn)(const char *data, size_t len, void *context),
		     void *context, const char **error_r)
{
	return fetch_store_heads(dest, fn, context, error_r);
}

const char *fetch_dest_kind(const struct fetch_dest *dest)
{
	size_t n = strlen(dest->ops->prefix) - 1;
	static char kind[16];

	snprintf(kind, sizeof(kind), "%.*s", (int)n, dest->ops->prefix);
	return kind;
}
