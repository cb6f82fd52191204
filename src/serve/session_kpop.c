/* session_kpop.c: the KPOP stage of a session (session_kpop.h). */
#include "serve/session_kpop.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sasl_mech.h"
#include "net/ioloop.h"
#include "net/sendauth.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "util/log.h"

/* Both version strings and the AP_REQ's length field at first; grown to
 * the AP_REQ's announced length (at most SENDAUTH_AP_REQ_MAX) once it
 * is known, so a connection that has sent nothing holds 140 octets. */
#define KPOP_BUF_FIRST (2 * (SENDAUTH_LEN_OCTETS + SENDAUTH_VERSION_MAX) + \
			SENDAUTH_LEN_OCTETS)

enum kpop_stage {
	KPOP_VERSIONS,   /* reading the two version strings */
	KPOP_AP_REQ,     /* reading the AP_REQ */
	KPOP_VERIFYING,  /* the auth process has it */
	KPOP_VERIFIED,   /* greeted; PASS finishes the exchange */
	KPOP_LOGIN,      /* PASS sent on: the result comes as a login's */
	KPOP_FINISHED,   /* the auth process has ended the exchange */
};

struct session_kpop {
	enum kpop_stage stage;
	size_t len, size;
	unsigned char *buf;          /* size octets, freed once verified */
};

/* Module-global: one request buffer for the worker (it has one thread
 * and each request is sent whole before the next is built); too big
 * for the stack. */
static struct auth_sasl_request session_kpop_req;

static void session_kpop_fail(struct session *s, const char *why)
{
	log_info("KPOP refused: rip=%s: %s", s->log_client, why);
	s->closing = true;
	s->end_reason = why;
}

void session_kpop_begin(struct session *s)
{
	s->kpop = calloc(1, sizeof(*s->kpop));
	if (s->kpop != NULL)
		s->kpop->buf = malloc(KPOP_BUF_FIRST);
	if (s->kpop == NULL || s->kpop->buf == NULL) {
		session_kpop_fail(s, "out of memory");
		return;
	}
	s->kpop->size = KPOP_BUF_FIRST;
	s->kpop->stage = KPOP_VERSIONS;
	{
		size_t bit = 0;

		if (sasl_mech_find("KPOP", &bit) != NULL)
			s->login_mech = (uint8_t)(METRICS_MECH_SASL + bit);
	}
}

bool session_kpop_holds(const struct session *s)
{
	return s->kpop != NULL && s->kpop->stage == KPOP_VERIFYING;
}

bool session_kpop_reading(const struct session *s)
{
	return s->kpop != NULL && (s->kpop->stage == KPOP_VERSIONS ||
				   s->kpop->stage == KPOP_AP_REQ);
}

/* Sends the AP_REQ to the auth process as the KPOP exchange's start. */
static void session_kpop_verify(struct session *s, const unsigned char *ap_req,
				size_t len)
{
	struct auth_sasl_request *req = &session_kpop_req;

	memset(req, 0, AUTH_SASL_REQUEST_HDR);
	req->type = AUTH_REQ_SASL_START;
	snprintf(req->mech, sizeof(req->mech), "KPOP");
	snprintf(req->client_addr, sizeof(req->client_addr), "%s",
		 s->log_client);
	req->secured = s->secured || s->loopback;
	req->has_data = 1;
	memcpy(req->data, ap_req, len);
	req->data_len = (uint32_t)len;
	s->kpop->stage = KPOP_VERIFYING;
	if (worker_auth_send_sasl(s->worker, s, req) < 0) {
		explicit_bzero(req->data, len);
		session_kpop_fail(s, "the auth process cannot be reached");
		return;
	}
	/* the ticket's authenticator is not kept in the worker */
	explicit_bzero(req->data, len);
	explicit_bzero(s->kpop->buf, s->kpop->len);
	s->waiting = true;
}

/* Room for the whole AP_REQ once its length field is in (the parser
 * has refused one above SENDAUTH_AP_REQ_MAX). false when out of memory
 * (the session closes). */
static bool session_kpop_grow(struct session *s)
{
	struct session_kpop *k = s->kpop;
	size_t need;
	unsigned char *p;

	if (k->len < SENDAUTH_LEN_OCTETS)
		return true;
	need = SENDAUTH_LEN_OCTETS + ((size_t)k->buf[0] << 24 |
				      (size_t)k->buf[1] << 16 |
				      (size_t)k->buf[2] << 8 | k->buf[3]);
	if (need <= k->size)
		return true;
	p = realloc(k->buf, need);
	if (p == NULL) {
		session_kpop_fail(s, "out of memory");
		return false;
	}
	k->buf = p;
	k->size = need;
	return true;
}

/* Parses what is buffered; false when the session is to close. */
static bool session_kpop_parse(struct session *s)
{
	struct session_kpop *k = s->kpop;
	enum sendauth_reply reply = SENDAUTH_REPLY_OK;
	const unsigned char *msg = NULL;
	const char *error = "";
	size_t used = 0, msg_len = 0;
	unsigned char octet;

	if (k->stage == KPOP_VERSIONS) {
		switch (sendauth_parse_versions(k->buf, k->len,
						SENDAUTH_KPOP_VERSION, &used,
						&reply, &error)) {
		case SENDAUTH_MORE:
			return true;
		case SENDAUTH_BAD:
			/* the reply octet tells krb5_sendauth why */
			octet = (unsigned char)reply;
			(void)outbuf_append(&s->out, &octet, 1);
			session_kpop_fail(s, error);
			return false;
		case SENDAUTH_DONE:
			break;
		}
		octet = SENDAUTH_REPLY_OK;
		if (outbuf_append(&s->out, &octet, 1) < 0) {
			session_kpop_fail(s, "out of memory");
			return false;
		}
		memmove(k->buf, k->buf + used, k->len - used);
		k->len -= used;
		k->stage = KPOP_AP_REQ;
	}
	switch (sendauth_parse_message(k->buf, k->len, SENDAUTH_AP_REQ_MAX,
				       &msg, &msg_len, &used, &error)) {
	case SENDAUTH_MORE:
		return session_kpop_grow(s);
	case SENDAUTH_BAD:
		session_kpop_fail(s, error);
		return false;
	case SENDAUTH_DONE:
		break;
	}
	if (used != k->len) {
		/* the client waits for our answer before it says more */
		session_kpop_fail(s, "data after the AP_REQ");
		return false;
	}
	session_kpop_verify(s, msg, msg_len);
	return true;
}

void session_kpop_read(struct session *s)
{
	struct session_kpop *k = s->kpop;

	while (session_kpop_reading(s) && !s->closing && !s->waiting) {
		ssize_t n;

		if (k->len == k->size) {
			/* the parsers refuse more first; never spin on it */
			session_kpop_fail(s, "sendauth input too long");
			return;
		}
		n = conn_read(&s->conn, k->buf + k->len, k->size - k->len);

		if (n == CONN_AGAIN)
			return;
		if (n == CONN_EOF || n == CONN_ERROR) {
			s->peer_closed = true;
			s->io_failed = n == CONN_ERROR;
			if (s->end_reason == NULL)
				s->end_reason = "disconnected during KPOP";
			return;
		}
		k->len += (size_t)n;
		s->last_activity_ms = ioloop_now_ms(s->worker->loop);
		if (!session_kpop_parse(s))
			return;
	}
}

/* The empty "no error" message, the AP_REP when there is one, then the
 * greeting. */
static void session_kpop_verified(struct session *s,
				  const struct auth_reply *r)
{
	unsigned char frame[SENDAUTH_LEN_OCTETS + AUTH_SASL_OUT_MAX];
	long n = sendauth_encode_message(NULL, 0, frame, sizeof(frame));

	if (n < 0 || outbuf_append(&s->out, frame, (size_t)n) < 0) {
		session_kpop_fail(s, "out of memory");
		return;
	}
	if (r->data_len > 1) {
		n = sendauth_encode_message(r->data + 1, r->data_len - 1,
					    frame, sizeof(frame));
		if (n < 0 || outbuf_append(&s->out, frame, (size_t)n) < 0) {
			session_kpop_fail(s, "out of memory");
			return;
		}
	}
	s->kpop->stage = KPOP_VERIFIED;
	free(s->kpop->buf);
	s->kpop->buf = NULL;
	s->greeted = true;
	session_greet(s);
}

bool session_kpop_reply(struct session *s, const struct auth_reply *r)
{
	struct session_kpop *k = s->kpop;

	if (k == NULL || k->stage == KPOP_VERIFIED ||
	    k->stage == KPOP_FINISHED)
		return false;
	if (k->stage == KPOP_LOGIN) {
		/* the final result: a login's like any other */
		k->stage = KPOP_FINISHED;
		session_auth_result(s, r);
		return true;
	}
	if (k->stage != KPOP_VERIFYING)
		return false;
	s->waiting = false;
	if (r->result == AUTH_CONTINUE && r->data_len >= 1 &&
	    r->data[0] == AUTH_KPOP_AP_REP) {
		session_kpop_verified(s, r);
	} else if (r->result == AUTH_CONTINUE && r->data_len >= 1) {
		/* the KRB_ERROR, so the client's krb5_sendauth says why */
		unsigned char frame[SENDAUTH_LEN_OCTETS + AUTH_SASL_OUT_MAX];
		long n = sendauth_encode_message(r->data + 1, r->data_len - 1,
						 frame, sizeof(frame));

		if (n > SENDAUTH_LEN_OCTETS)
			(void)outbuf_append(&s->out, frame, (size_t)n);
		metrics_login(s->worker->metrics, s->worker->index,
			      s->login_mech, METRICS_LOGIN_FAILED);
		(void)worker_login_result(s->worker, s->addr, true);
		session_kpop_fail(s, "AP_REQ refused");
		/* the exchange stays in the auth process until the abort */
	} else {
		k->stage = KPOP_FINISHED;
		session_kpop_fail(s, r->result == AUTH_TEMPFAIL ?
				     "the auth process could not verify" :
				     "AP_REQ refused");
	}
	session_resume(s);
	return true;
}

enum cmd_outcome session_kpop_pass(struct session *s)
{
	struct auth_sasl_request *req = &session_kpop_req;
	size_t len = strlen(s->user);

	if (s->kpop == NULL || s->kpop->stage != KPOP_VERIFIED) {
		session_reply(s, "-ERR [AUTH] no Kerberos authentication");
		return CMD_DONE;
	}
	memset(req, 0, AUTH_SASL_REQUEST_HDR);
	req->type = AUTH_REQ_SASL_CONTINUE;
	snprintf(req->client_addr, sizeof(req->client_addr), "%s",
		 s->log_client);
	req->secured = s->secured || s->loopback;
	memcpy(req->data, s->user, len);
	req->data_len = (uint32_t)len;
	if (worker_auth_send_sasl(s->worker, s, req) < 0) {
		session_reply(s, "-ERR [SYS/TEMP] authentication service "
			      "unavailable, try again later");
		return CMD_DONE;
	}
	s->kpop->stage = KPOP_LOGIN;
	s->waiting = true;
	return CMD_WAIT;
}

void session_kpop_end(struct session *s)
{
	struct session_kpop *k = s->kpop;

	if (k == NULL)
		return;
	s->kpop = NULL;
	if (k->stage == KPOP_VERIFYING || k->stage == KPOP_VERIFIED ||
	    k->stage == KPOP_LOGIN) {
		memset(&session_kpop_req, 0, AUTH_SASL_REQUEST_HDR);
		session_kpop_req.type = AUTH_REQ_SASL_ABORT;
		(void)worker_auth_send_sasl(s->worker, s, &session_kpop_req);
	}
	free(k->buf);
	free(k);
}
