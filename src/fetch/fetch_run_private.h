/* fetch_run_private.h: one account's run, shared by fetch_run.c (the
 * exactly-once loop) and fetch_listing.c (what the server lists). */
#ifndef SATCHEL_FETCH_RUN_PRIVATE_H
#define SATCHEL_FETCH_RUN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fetch/fetch.h"
#include "fetch/fetch_dest.h"
#include "fetch/fetch_mark.h"
#include "fetch/fetch_session.h"
#include "store/maildrop.h"

struct fetch_dest;
struct fetch_mark;
struct journal;

/* hex digits of the Maildir key: 48 bits, so a new message matches a
 * stored one's key by chance once in 2^48 / (messages stored) */
#define FETCH_KEY_HEX 12
/* A message body may exceed its LIST size (some servers estimate) but
 * not by this much: past it the server is feeding an endless body. */
#define FETCH_SIZE_SLACK(size) ((size) * 2 + (1u << 20))
/* ... and without a LIST size, this is the most we take */
#define FETCH_MESSAGE_MAX (1ull << 31)

struct fetch_msg {
	unsigned num;                       /* message number */
	uint64_t size;                      /* LIST size; 0 unknown */
	char uidl[MAILDROP_UIDL_MAX + 1];   /* "" when not listed */
	char key[FETCH_KEY_HEX + 1];
	bool stored;                        /* durable here this run */
	uint64_t received;                  /* body octets so far */
	bool dele_sent;
	bool delete_unfetched;              /* over delete_larger */
	struct fetch_envelope *env;         /* SDPS: what *ENV said; NULL:
					       nothing (malloc'd) */
};

struct fetch_job {
	const struct fetch_account *a;
	struct fetch_session s;
	struct journal *journal;
	struct fetch_dest *dest;
	char hostname[256];
	int64_t start_ms;

	struct fetch_msg *msgs;             /* count of them */
	size_t count;
	uint64_t octets;                    /* STAT's; UINT64_MAX unknown */
	struct fetch_msg **wanted;          /* to fetch, in order */
	struct fetch_msg *current;          /* the RETR being read */
	struct fetch_msg **pending;         /* committed, not yet flushed
					       and journaled */
	size_t npending;
	size_t nwanted;
	bool listed;                        /* the UIDL listing was whole */
	bool unchanged;                     /* as the mark says: nothing
					       listed, nothing to do */
	struct fetch_mark mark;             /* have_mark: the last one */
	bool have_mark;
	char mark_path[4200];
	bool stop;                          /* the destination failed */
	int exit;                           /* a fetch_exit to end with */

	bool tty;                           /* progress on stderr */
	size_t progress_msgs;               /* stored so far (this run) */
	uint64_t progress_bytes;            /* their octets received */
	uint64_t progress_octets;           /* their LIST sizes */
	int64_t progress_ms;                /* when last shown */
	size_t fetched, deleted, recovered, skipped;
	size_t deleted_unfetched;           /* over delete_larger */
	size_t deferred;                    /* over a per-session cap */
	size_t redelivered;                 /* ambiguous, fetched again */
	size_t ambiguous_skipped;           /* ambiguous, recorded only */
	size_t matched;                     /* found stored by header */
	size_t no_envelope;                 /* SDPS: *ENV told nothing */
	size_t previewed;                   /* --preview: listed only */
	size_t refused;                     /* by the destination, for good */
	size_t skipped_by_header;           /* --skip-header matched */
	bool match_headers;                 /* the UIDLs changed: match */
	uint64_t wanted_octets;             /* LIST sizes of the wanted */
	uint64_t bytes;
};

/* fetch_listing.c: STAT into job->count and job->octets (job->msgs
 * made for that many). A fetch_exit. */
int fetch_listing_stat(struct fetch_job *job);
/* UIDL into job->msgs (UIDLs checked, odd and repeated ones made
 * unique and valid). A fetch_exit. */
int fetch_listing_uidls(struct fetch_job *job);
/* After STAT: does the mailbox look as the mark says (count, octets,
 * and "UIDL 1" and "UIDL n" the mark's first and last)? A fetch_exit;
 * *same_r. */
int fetch_listing_unchanged(struct fetch_job *job,
			    const struct fetch_mark *mark, bool *same_r);
/* Makes m->key from the account and its UIDL (only for the messages
 * to fetch: a poll with nothing new hashes nothing). 0 or -1. */
int fetch_listing_key(struct fetch_job *job, struct fetch_msg *m);
/* LIST into job->msgs' sizes (for the window and skip_larger). */
int fetch_listing_sizes(struct fetch_job *job);
/* Forgets journal entries not in the listing and first fetched more
 * than grace_secs ago. 0 or -1. */
int fetch_listing_prune(struct fetch_job *job, long grace_secs);
void fetch_listing_free(struct fetch_job *job);
/* fetch_run.c: m into the journal, as delivered now. FETCH_EXIT_OK,
 * or FETCH_EXIT_IOERR with job->s.error. */
int fetch_record(struct fetch_job *job, const struct fetch_msg *m);
/* fetch_top.c: what TOP n 0 tells before fetching. */
enum fetch_top_verdict {
	FETCH_TOP_KEEP,        /* still to be fetched */
	FETCH_TOP_DROP,        /* out of the wanted list */
	FETCH_TOP_FAIL,        /* stop: job->s.error says why */
};
/* hdr: the first FETCH_DEST_HEAD_MAX octets of TOP n 0's reply (len 0
 * when the server had no TOP for m) */
typedef enum fetch_top_verdict fetch_top_fn(struct fetch_job *job,
					    struct fetch_msg *m,
					    const char *hdr, size_t len,
					    void *context);
/* TOP n 0 for every wanted message (a window of them with PIPELINING),
 * fn deciding on each. A fetch_exit. */
int fetch_top_each(struct fetch_job *job, fetch_top_fn *fn, void *context);
/* --preview: a line (or a JSON event) per wanted message, which all
 * leave the wanted list. A fetch_exit. */
#define FETCH_PREVIEW_VALUE_MAX 256
int fetch_preview(struct fetch_job *job);
/* --skip-header: the wanted messages whose header matches stay on the
 * server, unfetched. A fetch_exit. */
int fetch_filter_headers(struct fetch_job *job);
/* fetch_run.c: s as a JSON string on out (control octets and non-ASCII
 * as \u00XX escapes). */
void fetch_json_string(FILE *out, const char *s);

/* fetch_match.c: the wanted messages already stored under their old
 * UIDLs (a Maildir's headers against TOP n 0) recorded under the new
 * ones and dropped from the wanted list. A fetch_exit. */
int fetch_match_headers(struct fetch_job *job);
/* fetch_sdps.c: *ENV for each wanted message (an SDPS server's
 * multidrop envelope) into its env. A fetch_exit. */
int fetch_sdps_envelopes(struct fetch_job *job);
/* The journal's path for the account (fetch.h: DIR/NAME.journal, the
 * name's odd characters made '_'). 0 or -1 (too long). */
int fetch_state_path(const struct fetch_account *a, char *out, size_t size);

#endif
