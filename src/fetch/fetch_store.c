/* fetch_store.c: the Maildir and mbox destinations of the fetch client
 * (fetch_dest.h), through the store's write side (store/delivery.h).
 *
 * mbox: each message is appended and fsync'd under the locks at its
 * commit, in order. Maildir: the message is spooled in the Maildir's
 * tmp/ as it streams in and that very file becomes the message (no
 * copy). A commit only ends the spool and queues it; the flush
 * (fetch_dest_flush, every 64 messages) fsyncs the queued files on a
 * few threads at once (each fsync's wait for the disk overlaps the
 * others'), links each into new/ in order and fsyncs new/ once. The
 * Maildir is opened once per run. Storing on threads too was tried:
 * stores into one Maildir queue on its arrivals lock, and the run got
 * slower; a syncfs per flush was tried: it waits for whatever else is
 * dirty on the file system. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/fetch_dest_private.h"
#include "store/delivery.h"
#include "util/jobpool.h"

/* Maildir commits queued before a flush stores them (fetch_run flushes
 * every 64; a longer run of commits is stored as the queue fills) */
#define FETCH_STORE_QUEUE 64
/* threads fsyncing a flush's files at once: each fsync waits for the
 * disk on its own (on a file system without a journal, an inode write
 * each), so these waits overlap instead of adding up */
#define FETCH_STORE_SYNC_THREADS 8

/* One message being stored. */
struct fetch_store_job {
	struct fetch_store *st;
	struct delivery_spool *spool;
	struct delivery_target target;
	struct delivery_result res;
	enum delivery_status status;
	char key[DELIVERY_KEY_MAX + 1];
	bool has_env;                    /* SDPS: the envelope below */
	struct jobpool_job sync;         /* its fsync on the pool */
	int sync_errno;                  /* 0: synced */
	char sender[FETCH_ENVELOPE_MAX + 1], rcpt[FETCH_ENVELOPE_MAX + 1];
};

struct fetch_store {
	struct fetch_dest *dest;
	enum maildrop_kind kind;
	struct delivery_maildir maildir; /* Maildir: open for the run */
	struct fetch_store_job *current; /* begun, not committed */
	struct fetch_store_job *queued[FETCH_STORE_QUEUE]; /* Maildir:
					    committed, not stored */
	size_t nqueued;
	struct jobpool *sync_pool;       /* Maildir: the flush's fsyncs */
	size_t syncs_pending;
	char spool_dir[4200];            /* Maildir: its tmp/ */
};

static int fetch_store_open(struct fetch_dest *dest, enum maildrop_kind kind,
			    const char **error_r)
{
	struct fetch_store *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	st->dest = dest;
	st->kind = kind;
	st->maildir.dir_fd = -1;
	st->maildir.tmp_fd = st->maildir.new_fd = st->maildir.cur_fd = -1;
	dest->impl = st;
	if (dest->arg[0] == '\0') {
		*error_r = "the destination has no path";
		return -1;
	}
	/* the store takes absolute paths only: a relative one is the
	 * user's, from where the command runs */
	if (dest->arg[0] != '/') {
		char cwd[2048], abs[sizeof(dest->arg)];
		int n;

		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			*error_r = "cannot tell the current directory";
			return -1;
		}
		n = snprintf(abs, sizeof(abs), "%s/%s", cwd, dest->arg);
		if (n < 0 || (size_t)n >= sizeof(abs)) {
			*error_r = "destination path too long";
			return -1;
		}
		memcpy(dest->arg, abs, (size_t)n + 1);
	}
	return 0;
}

static int fetch_maildir_open(struct fetch_dest *dest, const char *arg,
			      const char **error_r)
{
	struct fetch_store *st;

	if (fetch_store_open(dest, MAILDROP_MAILDIR, error_r) < 0)
		return -1;
	st = dest->impl;
	if (delivery_maildir_open(dest->arg, &st->maildir, error_r) < 0)
		return -1;
	/* none (no threads to be had) only costs speed */
	st->sync_pool = jobpool_create(FETCH_STORE_SYNC_THREADS);
	/* each message is spooled in tmp/ and that file stored: no copy */
	snprintf(st->spool_dir, sizeof(st->spool_dir), "%s/tmp", dest->arg);
	return 0;
}

static int fetch_mbox_open(struct fetch_dest *dest, const char *arg,
			   const char **error_r)
{
	return fetch_store_open(dest, MAILDROP_MBOX, error_r);
}

static void fetch_store_job_free(struct fetch_store_job *j)
{
	delivery_spool_destroy(&j->spool);
	free(j);
}

static void fetch_store_abort(struct fetch_dest *dest)
{
	struct fetch_store *st = dest->impl;

	if (st->current != NULL)
		fetch_store_job_free(st->current);
	st->current = NULL;
}

static void fetch_store_close(struct fetch_dest *dest)
{
	struct fetch_store *st = dest->impl;

	if (st == NULL)
		return;
	fetch_store_abort(dest);
	while (st->nqueued > 0)
		fetch_store_job_free(st->queued[--st->nqueued]);
	jobpool_destroy(&st->sync_pool);
	delivery_maildir_close(&st->maildir);
	free(st);
}

static int fetch_store_begin(struct fetch_dest *dest, const char *key,
			     const struct fetch_envelope *env,
			     const char **error_r)
{
	struct fetch_store *st = dest->impl;
	struct delivery_settings set;
	struct fetch_store_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	j->st = st;
	snprintf(j->key, sizeof(j->key), "%s", key);
	if (env != NULL) {
		j->has_env = true;
		snprintf(j->sender, sizeof(j->sender), "%s", env->sender);
		snprintf(j->rcpt, sizeof(j->rcpt), "%s", env->rcpt);
	}
	memset(&set, 0, sizeof(set));
	set.mboxrd = true;
	set.verbatim = true;
	set.name_key = j->key;
	set.hostname = dest->set.hostname;
	set.envelope_prefix = env != NULL;
	if (st->kind == MAILDROP_MAILDIR) {
		/* new/'s fsync once per flush: fetch_dest_flush */
		set.defer_dir_sync = true;
		set.spool_dir = st->spool_dir;
		set.link_spool = true;
	}
	if (delivery_spool_create(&set, &j->spool, error_r) < 0) {
		free(j);
		return -1;
	}
	st->current = j;
	return 0;
}

static int fetch_store_write(struct fetch_dest *dest, const char *data,
			     size_t len, const char **error_r)
{
	struct fetch_store *st = dest->impl;

	return delivery_spool_write(st->current->spool, data, len, error_r);
}

/* Stores one ended message (its target set); frees the job. */
static enum fetch_dest_result fetch_store_job_store(struct fetch_store *st,
						    struct fetch_store_job *j,
						    const char **error_r)
{
	enum delivery_status status = delivery_store(j->spool, &j->target,
						     &j->res);

	if (status != DELIVERY_OK) {
		snprintf(st->dest->error_buf, sizeof(st->dest->error_buf),
			 "%s (%s)", j->res.text, j->res.enhanced);
		*error_r = st->dest->error_buf;
	}
	fetch_store_job_free(j);
	if (status == DELIVERY_OK)
		return FETCH_DEST_OK;
	return status == DELIVERY_PERM ? FETCH_DEST_PERM : FETCH_DEST_TEMP;
}

static void fetch_store_sync_run(struct jobpool_job *job)
{
	struct fetch_store_job *j = (struct fetch_store_job *)
		((char *)job - offsetof(struct fetch_store_job, sync));

	j->sync_errno = delivery_spool_sync(j->spool) == 0 ? 0 : errno;
}

static void fetch_store_sync_done(struct jobpool_job *job)
{
	struct fetch_store_job *j = (struct fetch_store_job *)
		((char *)job - offsetof(struct fetch_store_job, sync));

	j->st->syncs_pending--;
}

/* fsyncs the queued files on the pool, all at once, and waits for
 * them. Without a pool (it could not start) each store syncs its own. */
static void fetch_store_sync_queued(struct fetch_store *st)
{
	struct pollfd pfd;
	size_t i;

	if (st->sync_pool == NULL || st->nqueued < 2)
		return;
	for (i = 0; i < st->nqueued; i++) {
		struct fetch_store_job *j = st->queued[i];

		j->sync_errno = -1;
		j->sync.run = fetch_store_sync_run;
		j->sync.done = fetch_store_sync_done;
		st->syncs_pending++;
		jobpool_submit(st->sync_pool, &j->sync);
	}
	pfd.fd = jobpool_fd(st->sync_pool);
	pfd.events = POLLIN;
	while (st->syncs_pending > 0) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break; /* cannot happen; the stores sync themselves */
		jobpool_complete(st->sync_pool);
	}
	for (i = 0; i < st->nqueued; i++)
		st->queued[i]->target.spool_synced =
			st->queued[i]->sync_errno == 0;
}

/* Stores the queued Maildir messages in order; at the first failure the
 * rest are dropped (not stored, so not recorded: the next run fetches
 * them again). */
static enum fetch_dest_result fetch_store_queued(struct fetch_store *st,
						 const char **error_r)
{
	enum fetch_dest_result result = FETCH_DEST_OK;
	size_t i;

	fetch_store_sync_queued(st);
	for (i = 0; i < st->nqueued; i++) {
		if (result != FETCH_DEST_OK)
			fetch_store_job_free(st->queued[i]);
		else
			result = fetch_store_job_store(st, st->queued[i],
						       error_r);
	}
	st->nqueued = 0;
	return result;
}

static enum fetch_dest_result fetch_store_commit(struct fetch_dest *dest,
						 const char **error_r)
{
	struct fetch_store *st = dest->impl;
	struct fetch_store_job *j = st->current;
	/* one recipient: the spool is not kept for a second copy */
	struct delivery_envelope env = { .sender = NULL,
					 .single_recipient = true };
	enum fetch_dest_result result;

	st->current = NULL;
	j->target.user = dest->set.rcpt;
	j->target.rcpt = j->has_env ? j->rcpt : dest->set.rcpt;
	if (j->has_env)
		env.sender = j->sender;
	j->target.kind = st->kind;
	j->target.path = dest->arg;
	if (delivery_spool_finish(j->spool, &env, &j->res) < 0) {
		snprintf(dest->error_buf, sizeof(dest->error_buf), "%s (%s)",
			 j->res.text, j->res.enhanced);
		*error_r = dest->error_buf;
		result = j->res.status == DELIVERY_PERM ? FETCH_DEST_PERM :
							  FETCH_DEST_TEMP;
		fetch_store_job_free(j);
		return result;
	}
	if (st->kind != MAILDROP_MAILDIR)
		return fetch_store_job_store(st, j, error_r);
	j->target.maildir = &st->maildir;
	if (st->nqueued == FETCH_STORE_QUEUE &&
	    (result = fetch_store_queued(st, error_r)) != FETCH_DEST_OK) {
		fetch_store_job_free(j);
		return result;
	}
	st->queued[st->nqueued++] = j;
	return FETCH_DEST_OK;
}

static int fetch_maildir_flush(struct fetch_dest *dest, const char **error_r)
{
	struct fetch_store *st = dest->impl;

	if (fetch_store_queued(st, error_r) != FETCH_DEST_OK)
		return -1;
	return delivery_maildir_sync(&st->maildir, error_r);
}

int fetch_store_keys(struct fetch_dest *dest,
		     bool (*fn)(const char *key, size_t len, void *context),
		     void *context, const char **error_r)
{
	return delivery_maildir_keys(dest->arg, fn, context, error_r);
}

/* The first octets of each file in dir_fd (a Maildir's new/ or cur/). */
static int fetch_store_dir_heads(int dir_fd,
				 void (*fn)(const char *data, size_t len,
					    void *context),
				 void *context, char *buf)
{
	struct dirent *de;
	DIR *dir;
	int fd = dup(dir_fd);

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		ssize_t n;
		int msg_fd;

		if (de->d_name[0] == '.')
			continue;
		msg_fd = openat(dir_fd, de->d_name,
				O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (msg_fd < 0)
			continue; /* moved or removed meanwhile */
		n = pread(msg_fd, buf, FETCH_DEST_HEAD_MAX, 0);
		close(msg_fd);
		if (n > 0)
			fn(buf, (size_t)n, context);
	}
	closedir(dir);
	return 0;
}

int fetch_store_heads(struct fetch_dest *dest,
		      void (*fn)(const char *data, size_t len, void *context),
		      void *context, const char **error_r)
{
	struct fetch_store *st = dest->impl;
	char *buf = malloc(FETCH_DEST_HEAD_MAX);
	int ret = -1;

	if (buf == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (fetch_store_dir_heads(st->maildir.new_fd, fn, context, buf) == 0 &&
	    fetch_store_dir_heads(st->maildir.cur_fd, fn, context, buf) == 0)
		ret = 0;
	else
		*error_r = "cannot read the Maildir";
	free(buf);
	return ret;
}

const struct fetch_dest_ops fetch_dest_maildir_ops = {
	"maildir:", fetch_maildir_open, fetch_store_close, fetch_store_begin,
	fetch_store_write, fetch_store_commit, fetch_store_abort,
	fetch_maildir_flush,
};

const struct fetch_dest_ops fetch_dest_mbox_ops = {
	"mbox:", fetch_mbox_open, fetch_store_close, fetch_store_begin,
	fetch_store_write, fetch_store_commit, fetch_store_abort, NULL,
};
