/* session_store.c: the store work of a session as jobs on the worker's
 * pool (util/jobpool.h): opening the maildrop (session lock, mbox lock
 * waits, the size scan of a cold Maildir) and the UPDATE commit
 * (deletions, moves to cur/, fsyncs, index write, mbox rewrite). Either
 * can take seconds on a big or slow maildrop; on the loop it would stall
 * every client of the worker.
 *
 * While a job runs the session waits as it does for the auth process (no
 * command is read). The job owns everything it touches (settings copy,
 * the maildrop); the session is only reached from the done callback, on
 * the loop thread. A session that ends while its job runs detaches: an
 * open's result is closed (lock released, nothing changed: a dropped
 * connection deletes nothing, RFC 1939 6.), a commit already started
 * completes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/metrics.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "util/jobpool.h"
#include "util/log.h"

enum store_job_kind { STORE_OPEN, STORE_COMMIT };

struct store_job {
	struct jobpool_job job;        /* first: the pool's link */
	enum store_job_kind kind;
	struct session *session;       /* NULL once the session is gone */
	struct maildrop_settings set;  /* open: path points at path[] */
	char path[AUTH_PATH_MAX];
	char user[AUTH_USER_MAX];      /* for the log after a detach */
	char session_id[20];
	struct maildrop *drop;         /* open: result; commit: input */
	unsigned deleted;
	/* open with MSGCONV_ADD_EOH: which messages lack the header's end
	 * (handed to the session, freed here when it is gone) */
	bool scan_eoh;
	bool *no_eoh;
	/* open for a client without UTF8 (set.scan_utf8): under
	 * utf8_legacy = reject which messages need UTF-8 mode, under wrap
	 * the sizes of their surrogates */
	bool *needs_utf8;
	bool wrap;
	uint64_t *wrap_size;
	int ret;
	const char *error;             /* static text (maildrop.h) */
	struct worker *worker;         /* for the metrics, after a detach */
	uint64_t submitted_us;         /* open: the latency histogram */
};

static uint64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* On the loop thread: what a finished job adds to the metrics, whether
 * its session is still there or not. */
static void store_job_count(const struct store_job *j)
{
	struct worker *w = j->worker;

	if (j->kind == STORE_OPEN)
		metrics_open_latency(w->metrics, w->index,
				     monotonic_us() - j->submitted_us);
	else
		metrics_count(w->metrics, w->index, METRICS_DELETIONS,
			      j->deleted);
}

/* --- on a pool thread: only the job's own fields --- */

static ssize_t store_job_read(void *ctx, char *buf, size_t size)
{
	return maildrop_reader_read(ctx, buf, size);
}

/* oe-ns-eoh: reads each header up to its blank line, so the sizes the
 * session gives are what RETR sends (this costs a read of every header
 * at login, which is why it is a workaround for the few who need it). A
 * message that cannot be read gets false: its RETR fails anyway. */
static void store_job_scan_eoh(struct store_job *j)
{
	unsigned n = maildrop_count(j->drop);
	bool *flags = calloc(n + 1, sizeof(*flags));

	j->no_eoh = flags;
	if (flags == NULL) {
		maildrop_close(&j->drop);
		j->ret = MAILDROP_TEMP;
		j->error = "out of memory";
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct maildrop_reader *reader;
		const char *ignored;

		if (maildrop_reader_open(j->drop, i, &reader, &ignored) !=
		    MAILDROP_OK)
			continue;
		flags[i] = msgconv_header_ends(store_job_read, reader) == 0;
		maildrop_reader_destroy(&reader);
	}
}

/* utf8_legacy = reject or wrap for a client without UTF8: the store
 * found out (maildrop_settings.scan_utf8, from its index on a warm
 * login) which messages need UTF-8 mode; reject wants those flags, wrap
 * the surrogate sizes (0: sent as stored). One that could not be read
 * counts as not needing it: its RETR fails anyway. */
static void store_job_utf8(struct store_job *j)
{
	unsigned n = maildrop_count(j->drop);

	uint64_t *sizes = NULL;
	bool *flags = NULL;

	if (j->wrap)
		sizes = j->wrap_size = calloc(n + 1, sizeof(*sizes));
	else
		flags = j->needs_utf8 = calloc(n + 1, sizeof(*flags));
	if (sizes == NULL && flags == NULL) {
		maildrop_close(&j->drop);
		j->ret = MAILDROP_TEMP;
		j->error = "out of memory";
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct maildrop_msg *m = maildrop_msg(j->drop, i);

		if (m->utf8 != MAILDROP_UTF8_YES)
			continue;
		if (sizes != NULL)
			sizes[i] = m->wrap_size;
		else
			flags[i] = true;
	}
}

static void store_job_run(struct jobpool_job *job)
{
	struct store_job *j = (struct store_job *)job;

	j->error = NULL;
	if (j->kind == STORE_OPEN) {
		j->ret = maildrop_open(&j->set, &j->drop, &j->error);
		if (j->ret == MAILDROP_OK && j->scan_eoh)
			store_job_scan_eoh(j);
		if (j->ret == MAILDROP_OK && j->set.scan_utf8)
			store_job_utf8(j);
	} else
		j->ret = maildrop_commit(&j->drop, &j->deleted, &j->error);
	/* every failure says why (maildrop.h promises it; never "(null)") */
	if (j->ret != MAILDROP_OK && j->error == NULL)
		j->error = "unknown store error";
}

/* --- on the loop thread --- */

static void store_job_done(struct jobpool_job *job)
{
	struct store_job *j = (struct store_job *)job;
	struct session *s = j->session;

	store_job_count(j);
	if (s == NULL) {
		/* The client left meanwhile: an opened maildrop is closed
		 * unchanged (lock released); a commit has completed. */
		if (j->kind == STORE_COMMIT)
			log_info("update finished after disconnect: user=%s "
				 "session=%s deleted=%u%s%s", j->user,
				 j->session_id, j->deleted,
				 j->ret != MAILDROP_OK ? " error=" : "",
				 j->ret != MAILDROP_OK ? j->error : "");
		maildrop_close(&j->drop);
		free(j->no_eoh);
		free(j->needs_utf8);
		free(j->wrap_size);
		free(j);
		return;
	}
	s->store_job = NULL;
	if (j->kind == STORE_OPEN) {
		free(s->no_eoh);
		s->no_eoh = j->no_eoh;
		free(s->needs_utf8);
		s->needs_utf8 = j->needs_utf8;
		free(s->wrap_size);
		s->wrap_size = j->wrap_size;
		session_login_opened(s, j->ret, j->drop, j->error);
	}
	else
		session_quit_done(s, j->ret, j->deleted, j->error);
	free(j);
}

static void store_job_submit(struct session *s, struct store_job *j)
{
	j->job.run = store_job_run;
	j->job.done = store_job_done;
	j->session = s;
	j->worker = s->worker;
	j->submitted_us = monotonic_us();
	snprintf(j->user, sizeof(j->user), "%s", s->user);
	snprintf(j->session_id, sizeof(j->session_id), "%s", s->id);
	s->store_job = j;
	s->waiting = true;
	jobpool_submit(s->worker->jobs, &j->job);
}

int session_store_open(struct session *s, const struct maildrop_settings *set)
{
	struct store_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->kind = STORE_OPEN;
	j->scan_eoh = (s->workarounds & MSGCONV_ADD_EOH) != 0;
	j->set = *set;
	j->set.scan_utf8 = s->worker->cfg->utf8_legacy != UTF8_LEGACY_SEND &&
			   !s->utf8;
	j->wrap = j->set.scan_utf8 &&
		  s->worker->cfg->utf8_legacy == UTF8_LEGACY_WRAP;
	snprintf(j->path, sizeof(j->path), "%s", set->path);
	j->set.path = j->path;
	store_job_submit(s, j);
	return 0;
}

int session_store_commit(struct session *s)
{
	struct store_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->kind = STORE_COMMIT;
	session_uidl_hash(s);
	j->drop = s->drop;
	s->drop = NULL; /* the job's now: no refresh, no reader */
	store_job_submit(s, j);
	return 0;
}

void session_store_detach(struct session *s)
{
	if (s->store_job != NULL) {
		s->store_job->session = NULL;
		s->store_job = NULL;
	}
}
