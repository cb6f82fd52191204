/* fetch_sdps.c: Demon's Standard Dial-up POP3 Service (SDPS), the
 * client side: for a multidrop mailbox (one POP3 account collecting a
 * whole domain's mail), "*ENV n" tells message n's envelope, as
 *
 *	+OK
 *	(a line, ignored)
 *	(a line, ignored)
 *	SENDER               (an empty line for the null sender)
 *	RECIPIENT
 *	.
 *
 * which fetchmail and getmail ask as well. A message whose *ENV fails
 * or says nothing usable goes to the account's own recipient, as
 * without SDPS; the log line counts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_run_private.h"

/* *ENV commands in flight with PIPELINING */
#define FETCH_SDPS_WINDOW 64
/* the lines of a reply: two ignored, the sender, the recipient */
#define FETCH_SDPS_LINES 4

struct fetch_sdps_reply {
	char lines[FETCH_SDPS_LINES][FETCH_ENVELOPE_MAX + 1];
	size_t count;
	bool bad;
};

/* An address as a header line and an SMTP path may hold it: printable
 * ASCII, no space, no angle brackets (a pair around it is taken off). */
static bool fetch_sdps_address(char *addr, bool empty_ok)
{
	size_t len = strlen(addr), i;

	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
		memmove(addr, addr + 1, len - 2);
		addr[len - 2] = '\0';
		len -= 2;
	}
	if (len == 0)
		return empty_ok;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

static bool fetch_sdps_line(char *line, size_t len, void *context)
{
	struct fetch_sdps_reply *r = context;

	/* more lines or longer ones than an envelope has: not one */
	if (r->count == FETCH_SDPS_LINES || len > FETCH_ENVELOPE_MAX) {
		r->bad = true;
		return true; /* read on to the end of the reply */
	}
	memcpy(r->lines[r->count++], line, len + 1);
	return true;
}

/* Reads the reply to *ENV for m: m->env set when it is usable. */
static int fetch_sdps_one(struct fetch_job *job, struct fetch_msg *m)
{
	struct fetch_sdps_reply r = { .count = 0 };
	struct pop3_status st = { 0 };
	char *sender, *rcpt;
	size_t ls, lr;
	int ret;

	ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
				     sizeof(job->s.reply));
	if (ret == 0 && st.kind == POP3_OK)
		ret = pop3client_read_lines(&job->s.pc, fetch_sdps_line, &r);
	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "*ENV");
	sender = r.lines[2];
	rcpt = r.lines[3];
	if (st.kind != POP3_OK || r.bad || r.count != FETCH_SDPS_LINES ||
	    !fetch_sdps_address(sender, true) ||
	    !fetch_sdps_address(rcpt, false)) {
		job->no_envelope++;
		return FETCH_EXIT_OK;
	}
	ls = strlen(sender);
	lr = strlen(rcpt);
	m->env = malloc(sizeof(*m->env) + ls + lr + 2);
	if (m->env == NULL) {
		snprintf(job->s.error, sizeof(job->s.error), "out of memory");
		return FETCH_EXIT_IOERR;
	}
	m->env->sender = memcpy((char *)(m->env + 1), sender, ls + 1);
	m->env->rcpt = memcpy((char *)(m->env + 1) + ls + 1, rcpt, lr + 1);
	return FETCH_EXIT_OK;
}

int fetch_sdps_envelopes(struct fetch_job *job)
{
	size_t window = job->s.caps.pipelining ? FETCH_SDPS_WINDOW : 1;
	size_t i = 0, sent, j;
	int ret;

	while (i < job->nwanted) {
		for (sent = i; sent < job->nwanted && sent - i < window; sent++) {
			ret = pop3client_send(&job->s.pc, "*ENV %u",
					      job->wanted[sent]->num);
			if (ret < 0)
				return fetch_session_io_exit(&job->s, ret,
							     "*ENV");
		}
		for (j = i; j < sent; j++) {
			ret = fetch_sdps_one(job, job->wanted[j]);
			if (ret != FETCH_EXIT_OK)
				return ret;
		}
		i = sent;
	}
	return FETCH_EXIT_OK;
}
