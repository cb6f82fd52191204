/* lmtp_txn.c: one message's delivery as a chain of store jobs, each
 * recipient answered as soon as it is durable (see lmtp_txn.h). */
#include "deliver/lmtp_txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver_log.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/ioloop.h"
#include "store/delivery_stats.h"
#include "util/jobpool.h"
#include "util/log.h"

enum txn_step { TXN_FINISH, TXN_STORE };

struct lmtp_txn {
	struct jobpool_job job;        /* first: the pool's link */
	struct lmtp_server *srv;
	struct lmtp_session *session;  /* NULL once it left */
	struct delivery_spool *spool;
	char *tail;                    /* the message's last octets, not yet
					  in the spool */
	size_t tail_len;
	struct delivery_envelope env;
	char sender[LMTP_PATH_MAX];
	char orcpt[LMTP_ORCPT_MAX + 1];
	char auth_user[AUTH_USER_MAX]; /* the client's AUTH, "" = none */
	struct lmtp_rcpt *rcpts;
	unsigned nrcpts;

	/* the job: one at a time (the spool is read by one store at a
	 * time); the loop thread touches only what follows once done */
	enum txn_step step;
	unsigned index;                /* the recipient being stored */
	struct delivery_target target;
	struct delivery_result res;

	struct timer *timer;           /* this recipient's time limit */
	bool answered;                 /* this recipient has its reply */
	char message_id[256];
	uint64_t step_started_ms;
};

unsigned lmtp_txn_reply_code(const struct delivery_result *res)
{
	const char *e = res->enhanced != NULL ? res->enhanced : "";

	if (res->status == DELIVERY_OK)
		return 250;
	if (res->status == DELIVERY_TEMP)
		/* RFC 3463: mailbox full and system full are "insufficient
		 * storage" (452) */
		return strcmp(e, "4.2.2") == 0 || strcmp(e, "4.3.1") == 0 ?
		       452 : 451;
	if (strcmp(e, "5.2.2") == 0 || strcmp(e, "5.3.4") == 0)
		return 552;
	if (strncmp(e, "5.1.", 4) == 0)
		return 550;
	return 554;
}

/* --- on a pool thread: only the job's own fields --- */

static void txn_run(struct jobpool_job *job)
{
	struct lmtp_txn *t = (struct lmtp_txn *)job;

	memset(&t->res, 0, sizeof(t->res));
	if (t->step == TXN_FINISH) {
		const char *error = NULL;

		if (t->tail_len > 0 &&
		    t->srv->store->spool_write(t->spool, t->tail, t->tail_len,
					       &error) < 0) {
			t->res.status = DELIVERY_TEMP;
			t->res.enhanced = "4.3.0";
			t->res.text = error != NULL ? error :
				"cannot spool the message";
		} else if (t->srv->store->spool_finish(t->spool, &t->env,
							&t->res) == 0)
			t->res.status = DELIVERY_OK;
		else if (t->res.status == DELIVERY_OK)
			t->res.status = DELIVERY_TEMP;
	} else {
		(void)t->srv->store->store(t->spool, &t->target, &t->res);
	}
	/* every failure says why (never "(null)" in a reply) */
	if (t->res.enhanced == NULL)
		t->res.enhanced = t->res.status == DELIVERY_OK ? "2.0.0" :
			t->res.status == DELIVERY_TEMP ? "4.3.0" : "5.3.0";
	if (t->res.text == NULL)
		t->res.text = t->res.status == DELIVERY_OK ? "delivered" :
			"delivery failed";
}

/* --- on the loop thread --- */

static void txn_done(struct jobpool_job *job);

/* Logs the result of recipient index and, unless it was answered
 * already (timeout), sends its reply. */
static void txn_reply(struct lmtp_txn *t, unsigned index,
		      const struct delivery_result *res, const char *note,
		      bool send)
{
	struct lmtp_rcpt *r = &t->rcpts[index];
	struct deliver_log_entry e = {
		.sender = t->sender, .rcpt = r->address, .user = r->user,
		.message_id = t->message_id, .res = res,
		.auth_user = t->auth_user,
		.seconds = (double)(ioloop_now_ms(t->srv->loop) -
				    t->step_started_ms) / 1000.0,
		.note = note,
	};

	deliver_log_result(&e);
	if (t->session == NULL || !send)
		return;
	/* RFC 2033 4.2: one reply per recipient, in RCPT order */
	lmtp_session_reply(t->session, "%u %s <%s> %s",
			   lmtp_txn_reply_code(res), res->enhanced,
			   r->address, res->text);
	lmtp_session_flush_replies(t->session);
}

static void txn_timeout(void *context)
{
	struct lmtp_txn *t = context;
	struct delivery_result res = {
		.status = DELIVERY_TEMP, .enhanced = "4.2.0",
		.text = "delivery took too long, try again later",
	};

	t->timer = NULL;
	t->answered = true;
	txn_reply(t, t->index, &res, "timeout", true);
}

static void txn_submit(struct lmtp_txn *t)
{
	uint64_t limit = 1000ull * t->srv->cfg->lmtp_recipient_timeout;

	t->job.run = txn_run;
	t->job.done = txn_done;
	t->answered = false;
	t->step_started_ms = ioloop_now_ms(t->srv->loop);
	if (t->step == TXN_STORE) {
		struct lmtp_rcpt *r = &t->rcpts[t->index];

		memset(&t->target, 0, sizeof(t->target));
		t->target.user = r->user;
		t->target.rcpt = r->address;
		t->target.kind = r->kind;
		t->target.path = r->path;
		t->target.quota_bytes = r->quota_bytes;
		t->target.quota_messages = r->quota_messages;
		t->timer = timer_add(t->srv->loop, limit, txn_timeout, t);
	}
	jobpool_submit(t->srv->jobs, &t->job);
}

static void txn_end(struct lmtp_txn *t)
{
	struct lmtp_server *srv = t->srv;

	timer_remove(&t->timer);
	t->srv->store->spool_destroy(&t->spool);
	free(t->tail);
	if (t->session != NULL)
		lmtp_session_txn_done(t->session);
	free(t->rcpts);
	free(t);
	srv->active_txns--;
	lmtp_server_check_idle(srv);
}

static void txn_done(struct jobpool_job *job)
{
	struct lmtp_txn *t = (struct lmtp_txn *)job;

	if (t->step == TXN_FINISH) {
		if (t->res.status != DELIVERY_OK) {
			/* the message itself failed: every recipient gets
			 * the same answer */
			for (unsigned i = 0; i < t->nrcpts; i++) {
				delivery_stats_count(t->srv->stats,
						     t->srv->stats_row,
						     &t->res);
				txn_reply(t, i, &t->res, NULL, true);
			}
			txn_end(t);
			return;
		}
		snprintf(t->message_id, sizeof(t->message_id), "%s",
			 t->srv->store->message_id(t->spool));
		t->step = TXN_STORE;
		t->index = 0;
	} else {
		timer_remove(&t->timer);
		/* what the store did, even after a timeout's 451 */
		delivery_stats_count(t->srv->stats, t->srv->stats_row,
				     &t->res);
		/* after a timeout the 451 went out: the late result is
		 * only logged */
		txn_reply(t, t->index, &t->res, t->answered ? "late" : NULL,
			  !t->answered);
		t->index++;
	}
	if (t->index >= t->nrcpts || t->srv->stopping) {
		/* stopping: the pool is being destroyed and takes no more
		 * jobs; the recipients not stored get no 250 (the MTA
		 * retries them) */
		txn_end(t);
		return;
	}
	txn_submit(t);
}

int lmtp_txn_start(struct lmtp_session *s)
{
	struct lmtp_txn *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->srv = s->srv;
	t->session = s;
	t->spool = s->spool;
	s->spool = NULL;
	t->tail = s->wbuf;
	t->tail_len = s->wlen;
	s->wbuf = NULL;
	s->wlen = 0;
	/* the recipients move; the session gets a fresh array */
	t->rcpts = s->rcpts;
	t->nrcpts = s->nrcpts;
	s->rcpts = NULL;
	s->cap_rcpts = 0;
	snprintf(t->sender, sizeof(t->sender), "%s", s->mail.sender);
	snprintf(t->auth_user, sizeof(t->auth_user), "%s", s->auth_user);
	t->env.sender = t->sender;
	if (t->nrcpts > 0 && t->rcpts[0].orcpt[0] != '\0') {
		snprintf(t->orcpt, sizeof(t->orcpt), "%s", t->rcpts[0].orcpt);
		t->env.orig_rcpt = t->orcpt;
	}
	/* Delivered-To only with one recipient (delivery.h) */
	t->env.single_recipient = t->nrcpts == 1;
	t->step = TXN_FINISH;
	s->txn = t;
	s->waiting = true;
	t->srv->active_txns++;
	txn_submit(t);
	return 0;
}

void lmtp_txn_detach(struct lmtp_txn *txn)
{
	txn->session = NULL;
}
