/* fetch_match.c: after a server changed every UIDL (a migration), the
 * messages fetched before are found by their header fingerprints
 * (fetch_fingerprint.h) instead of being fetched again: each stored
 * message's header is read once, each new UIDL's with TOP n 0
 * (fetch_top_each), and a match goes into the journal under its new
 * UIDL, unfetched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_dest.h"
#include "fetch/fetch_fingerprint.h"
#include "fetch/fetch_run_private.h"

struct fetch_match {
	char (*prints)[FETCH_FINGERPRINT_HEX + 1]; /* sorted */
	size_t count, cap;
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
	if (fetch_fingerprint(data, len, mt->prints[mt->count]))
		mt->count++;
}

static int fetch_match_cmp(const void *a, const void *b)
{
	return memcmp(a, b, FETCH_FINGERPRINT_HEX);
}

/* A wanted message whose header a stored one has: recorded, dropped. */
static enum fetch_top_verdict fetch_match_one(struct fetch_job *job,
					      struct fetch_msg *m,
					      const char *hdr, size_t len,
					      void *context)
{
	char print[FETCH_FINGERPRINT_HEX + 1];
	struct fetch_match *mt = context;

	if (!fetch_fingerprint(hdr, len, print) ||
	    bsearch(print, mt->prints, mt->count, sizeof(*mt->prints),
		    fetch_match_cmp) == NULL)
		return FETCH_TOP_KEEP;
	if (fetch_record(job, m) != FETCH_EXIT_OK)
		return FETCH_TOP_FAIL;
	job->matched++;
	return FETCH_TOP_DROP;
}

int fetch_match_headers(struct fetch_job *job)
{
	struct fetch_match mt = { .prints = NULL };
	const char *why;
	int ret;

	if (!fetch_dest_has_keys(job->dest)) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "matching by headers needs a Maildir destination "
			 "to compare with");
		return FETCH_EXIT_CONFIG;
	}
	if (fetch_dest_heads(job->dest, fetch_match_stored, &mt, &why) < 0 ||
	    mt.nomem) {
		free(mt.prints);
		snprintf(job->s.error, sizeof(job->s.error),
			 "reading the stored headers: %s",
			 mt.nomem ? "out of memory" : why);
		return FETCH_EXIT_IOERR;
	}
	qsort(mt.prints, mt.count, sizeof(*mt.prints), fetch_match_cmp);
	ret = fetch_top_each(job, fetch_match_one, &mt);
	free(mt.prints);
	return ret;
}
