/* fetch_match.c: after a server changed every UIDL (a migration), the
 * messages fetched before are found by their header fingerprints
 * (fetch_fingerprint.h) instead of being fetched again: each stored
 * message's header is read once, each new UIDL's with TOP n 0, and a
 * match goes into the journal under its new UIDL, unfetched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/fetch_dest.h"
#include "fetch/fetch_fingerprint.h"
#include "fetch/fetch_run_private.h"
#include "fetch/journal.h"

/* TOPs in flight with PIPELINING */
#define FETCH_MATCH_WINDOW 64
/* a TOP n 0 reply is a header: past this it is a hostile server */
#define FETCH_MATCH_TOP_MAX (1u << 20)

struct fetch_match {
	char (*prints)[FETCH_FINGERPRINT_HEX + 1]; /* sorted */
	size_t count, cap;
	struct fetch_fingerprint *fp;
	size_t top_octets;
	bool nomem;
};

static void fetch_match_stored(const char *data, size_t len, void *context)
{
	struct fetch_match *mt = context;

	if (mt->nomem)
		return;
	if (mt->count == mt->cap) {
		size_t cap = mt->cap == 0 ? 256 : mt->cap * 2;
		void *grown = realloc(mt->prints, cap * sizeof(*mt->prints));

		if (grown == NULL) {
			mt->nomem = true;
			return;
		}
		mt->prints = grown;
		mt->cap = cap;
	}
	fetch_fingerprint_feed(mt->fp, data, len);
	if (fetch_fingerprint_finish(mt->fp, mt->prints[mt->count]))
		mt->count++;
}

static int fetch_match_cmp(const void *a, const void *b)
{
	return memcmp(a, b, FETCH_FINGERPRINT_HEX);
}

static int fetch_match_top_sink(const char *data, size_t len, void *context)
{
	struct fetch_match *mt = context;

	mt->top_octets += len;
	if (mt->top_octets > FETCH_MATCH_TOP_MAX)
		return -2;
	fetch_fingerprint_feed(mt->fp, data, len);
	return 0;
}

/* Reads the reply to TOP m 0: true when its header matches a stored
 * message. A fetch_exit in *ret_r. */
static bool fetch_match_one(struct fetch_job *job, struct fetch_match *mt,
			    int *ret_r)
{
	char print[FETCH_FINGERPRINT_HEX + 1];
	struct pop3_status st;
	bool failed = false;
	int ret;

	*ret_r = FETCH_EXIT_OK;
	ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
				     sizeof(job->s.reply));
	if (ret == 0 && st.kind != POP3_OK)
		return false; /* no TOP for it: fetched, as if unmatched */
	mt->top_octets = 0;
	if (ret == 0)
		ret = pop3client_read_body(&job->s.pc, fetch_match_top_sink, mt,
					   &failed);
	if (ret < 0) {
		*ret_r = fetch_session_io_exit(&job->s, ret, "TOP");
		return false;
	}
	return fetch_fingerprint_finish(mt->fp, print) &&
	       bsearch(print, mt->prints, mt->count, sizeof(*mt->prints),
		       fetch_match_cmp) != NULL;
}

/* TOP for every wanted message (a window of them with PIPELINING);
 * the matched ones are recorded and leave the wanted list. */
static int fetch_match_wanted(struct fetch_job *job, struct fetch_match *mt)
{
	size_t window = job->s.caps.pipelining ? FETCH_MATCH_WINDOW : 1;
	size_t i = 0, kept = 0, sent, j;
	int ret = FETCH_EXIT_OK;

	while (i < job->nwanted) {
		for (sent = i; sent < job->nwanted && sent - i < window; sent++) {
			ret = pop3client_send(&job->s.pc, "TOP %u 0",
					      job->wanted[sent]->num);
			if (ret < 0)
				return fetch_session_io_exit(&job->s, ret, "TOP");
		}
		for (j = i; j < sent; j++) {
			struct fetch_msg *m = job->wanted[j];

			if (!fetch_match_one(job, mt, &ret)) {
				if (ret != FETCH_EXIT_OK)
					return ret;
				job->wanted[kept++] = m;
				continue;
			}
			if (fetch_record(job, m) != FETCH_EXIT_OK)
				return FETCH_EXIT_IOERR;
			job->matched++;
		}
		i = sent;
	}
	job->nwanted = kept;
	return FETCH_EXIT_OK;
}

int fetch_match_headers(struct fetch_job *job)
{
	struct fetch_match mt = { .fp = fetch_fingerprint_new() };
	const char *why;
	int ret;

	if (!fetch_dest_has_keys(job->dest)) {
		fetch_fingerprint_free(&mt.fp);
		snprintf(job->s.error, sizeof(job->s.error),
			 "matching by headers needs a Maildir destination "
			 "to compare with");
		return FETCH_EXIT_CONFIG;
	}
	if (mt.fp == NULL ||
	    fetch_dest_heads(job->dest, fetch_match_stored, &mt, &why) < 0 ||
	    mt.nomem) {
		fetch_fingerprint_free(&mt.fp);
		free(mt.prints);
		snprintf(job->s.error, sizeof(job->s.error),
			 "reading the stored headers: %s",
			 mt.nomem || mt.fp == NULL ? "out of memory" : why);
		return FETCH_EXIT_IOERR;
	}
	qsort(mt.prints, mt.count, sizeof(*mt.prints), fetch_match_cmp);
	ret = fetch_match_wanted(job, &mt);
	fetch_fingerprint_free(&mt.fp);
	free(mt.prints);
	return ret;
}
