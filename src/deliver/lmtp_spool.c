/* lmtp_spool.c: the received message on its way to the spool, in jobs
 * (delivery.h: every store call may block; a write can wait for the
 * disk, and the loop serves every other session meanwhile).
 *
 * The session unstuffs DATA (or copies BDAT chunks) into a chunk buffer
 * of LMTP_SPOOL_CHUNK octets; when it is nearly full a job writes it and
 * the session waits (it reads no further data, so the input buffer and
 * then the socket hold the rest: backpressure). What is left at the end
 * of data goes to the delivery (lmtp_txn.c), which writes it before it
 * finishes the spool. A session that leaves while a write runs hands the
 * spool to the job, which destroys it when done. */
#include <stdlib.h>

#include "deliver/lmtp_limits.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/ioloop.h"
#include "util/jobpool.h"
#include "util/log.h"

struct lmtp_spool_job {
	struct jobpool_job job;        /* first: the pool's link */
	struct lmtp_session *session;  /* NULL once it left */
	const struct lmtp_store_ops *store;
	struct delivery_spool *spool;  /* the session's; ours after a
					  detach (orphan) */
	bool orphan;
	char *buf;                     /* the session's chunk buffer */
	size_t len;
	int ret;
	const char *error;
};

static void spool_job_run(struct jobpool_job *job)
{
	struct lmtp_spool_job *j = (struct lmtp_spool_job *)job;

	j->error = NULL;
	j->ret = j->store->spool_write(j->spool, j->buf, j->len, &j->error);
}

static void spool_job_done(struct jobpool_job *job)
{
	struct lmtp_spool_job *j = (struct lmtp_spool_job *)job;
	struct lmtp_session *s = j->session;

	if (s == NULL) {
		/* the client left during the data: nothing is delivered */
		if (j->orphan)
			j->store->spool_destroy(&j->spool);
		free(j->buf);
		free(j);
		return;
	}
	s->spool_job = NULL;
	s->wbuf = j->buf;
	s->wlen = 0;
	if (j->ret < 0 && s->data_error == NULL) {
		log_error("spooling a message from %s: %s", s->addr,
			  j->error != NULL ? j->error : "write failed");
		s->data_error = "451 4.3.0 Cannot spool the message";
	}
	free(j);
	lmtp_session_resume(s);
}

int lmtp_spool_begin(struct lmtp_session *s)
{
	const char *error;

	s->data_size = 0;
	s->data_error = NULL;
	s->wlen = 0;
	if (s->wbuf == NULL)
		s->wbuf = malloc(LMTP_SPOOL_CHUNK);
	if (s->wbuf == NULL) {
		log_error("out of memory for a message from %s", s->addr);
		return -1;
	}
	if (s->srv->store->spool_create(&s->srv->dset, &s->spool,
					&error) < 0) {
		log_error("spool for a message from %s: %s", s->addr, error);
		return -1;
	}
	s->data_started_ms = ioloop_now_ms(s->srv->loop);
	return 0;
}

size_t lmtp_spool_room(const struct lmtp_session *s)
{
	return s->wbuf != NULL ? LMTP_SPOOL_CHUNK - s->wlen : 0;
}

void lmtp_spool_flush(struct lmtp_session *s, bool force)
{
	struct lmtp_spool_job *j;

	if (s->wbuf == NULL || s->wlen == 0 || s->data_error != NULL ||
	    (!force && lmtp_spool_room(s) >= LMTP_SPOOL_MIN_ROOM))
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		s->data_error = "451 4.3.0 Out of memory";
		s->wlen = 0;
		return;
	}
	j->job.run = spool_job_run;
	j->job.done = spool_job_done;
	j->session = s;
	j->store = s->srv->store;
	j->spool = s->spool;
	j->buf = s->wbuf;
	j->len = s->wlen;
	s->wbuf = NULL;
	s->wlen = 0;
	s->spool_job = j;
	s->waiting = true;
	jobpool_submit(s->srv->jobs, &j->job);
}

void lmtp_spool_end(struct lmtp_session *s)
{
	if (s->spool_job != NULL) {
		/* the job writes to the spool now: it destroys it */
		s->spool_job->session = NULL;
		s->spool_job->orphan = s->spool != NULL;
		s->spool_job = NULL;
		s->spool = NULL;
	}
	s->srv->store->spool_destroy(&s->spool);
	free(s->wbuf);
	s->wbuf = NULL;
	s->wlen = 0;
}
