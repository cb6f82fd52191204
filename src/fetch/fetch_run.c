/* fetch_run.c: one account, exactly once (fetch.h).
 *
 * The order that makes a kill at any point harmless:
 *
 *	RETR -> the destination's commit (durable: fetch_dest.h)
 *	     -> journal_add (no fsync) ... -> one journal_sync
 *	     -> DELE of what the journal holds -> QUIT
 *
 * A kill before the sync leaves stored messages the journal may not
 * know: a Maildir's file names carry each message's key (account and
 * UIDL), so the next run finds them there and fetches none twice;
 * other destinations get at most the messages of that one window
 * again. A kill after it leaves messages on the server that the
 * journal knows: the next run deletes them without fetching. Nothing
 * is deleted that is not durable here first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "fetch/fetch_daemon.h"
#include "fetch/fetch_dest.h"
#include "fetch/fetch_mark.h"
#include "fetch/fetch_password.h"
#include "fetch/fetch_run_private.h"
#include "fetch/fetch_session.h"
#include "fetch/journal.h"
#include "store/uidl.h"
#include "util/strhash.h"

/* RETRs in flight with PIPELINING (RFC 2449 6.6), and the octets they
 * may add up to: enough to keep the link busy while a message is
 * fsync'd, little enough that a slow destination holds little. */
#define FETCH_WINDOW_COMMANDS 64
#define FETCH_WINDOW_OCTETS (8u << 20)
/* the progress line is rewritten at most this often */
#define FETCH_PROGRESS_MS 100
/* DELEs sent before their replies are read */
#define FETCH_DELE_BATCH 256
/* Messages stored between two syncs of a Maildir's new/ */
#define FETCH_FLUSH_EVERY 64
/* A journal entry of a message no longer on the server is forgotten
 * this long after it was first fetched: servers that show a window of
 * the mailbox (Gmail) may list it again meanwhile. */
#define FETCH_FORGET_SECS (7 * 86400)
/* A "new" mailbox of at least this many messages where the journal
 * knew at least this many and recognises none: the UIDLs changed. */
#define FETCH_MASS_CHANGE_MIN 10

static int64_t fetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fetch_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void fetch_event(struct fetch_job *job, const char *event,
			const struct fetch_msg *m)
{
	if (!job->a->json)
		return;
	printf("{\"event\":\"%s\",\"account\":", event);
	fetch_json_string(stdout, job->a->name);
	if (m != NULL) {
		printf(",\"uidl\":");
		fetch_json_string(stdout, m->uidl);
		printf(",\"size\":%llu", (unsigned long long)m->size);
	}
	printf("}\n");
	fflush(stdout);
}

/* On a terminal (and neither --json nor --quiet): messages n/m, octets,
 * rate and what is left, rewritten in place as each message is stored
 * (at most every FETCH_PROGRESS_MS, and for the last one). */
static void fetch_progress(struct fetch_job *job)
{
	int64_t now = fetch_now_ms();
	double secs = (double)(now - job->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)job->progress_bytes / secs : 0;
	uint64_t left = job->wanted_octets > job->progress_octets ?
				job->wanted_octets - job->progress_octets :
				0;

	if (!job->tty || (now - job->progress_ms < FETCH_PROGRESS_MS &&
			  job->progress_msgs < job->nwanted))
		return;
	job->progress_ms = now;
	fprintf(stderr, "\r%s: %zu/%zu messages, %.1f MB, %.1f MB/s, ETA %.0f s ",
		job->a->name, job->progress_msgs, job->nwanted,
		(double)job->progress_bytes / 1e6, rate / 1e6,
		rate > 0 ? (double)left / rate : 0.0);
}

/* The destination failed on a message: no more RETRs; the exit says
 * whose fault (a full disk is local I/O, 74). */
static void fetch_dest_failed(struct fetch_job *job, const char *why)
{
	if (job->stop)
		return;
	job->stop = true;
	job->exit = FETCH_EXIT_IOERR;
	snprintf(job->s.error, sizeof(job->s.error), "delivery: %s", why);
}

/* The destination refused this one message for good (a 5xx, an MDA's
 * failure): it stays on the server and the others still come; the run
 * ends with 74 and the next run tries it again. */
static void fetch_dest_refused(struct fetch_job *job, const char *why)
{
	if (job->refused++ == 0)
		snprintf(job->s.error, sizeof(job->s.error),
			 "delivery refused: %s", why);
	job->exit = FETCH_EXIT_IOERR;
}

static int fetch_body_sink(const char *data, size_t len, void *context)
{
	struct fetch_job *job = context;
	struct fetch_msg *m = job->current;
	uint64_t limit = m->size > 0 ? FETCH_SIZE_SLACK(m->size) :
				       FETCH_MESSAGE_MAX;
	const char *why;

	m->received += len;
	if (m->received > limit)
		return -2;
	if (fetch_dest_write(job->dest, data, len, &why) < 0) {
		fetch_dest_failed(job, why);
		return -1;
	}
	return 0;
}

static int fetch_discard_sink(const char *data, size_t len, void *context)
{
	struct fetch_job *job = context;
	struct fetch_msg *m = job->current;

	m->received += len;
	return m->received > (m->size > 0 ? FETCH_SIZE_SLACK(m->size) :
					    FETCH_MESSAGE_MAX) ?
		       -2 :
		       0;
}

/* Makes the committed messages durable (fetch_dest_flush), then
 * records them in the journal (no fsync: fetch_mail syncs once before
 * any DELE). In this order, so the journal never names a message whose
 * file a crash could still take away. */
static void fetch_flush(struct fetch_job *job)
{
	const char *why;
	size_t i;

	if (job->npending == 0)
		return;
	if (fetch_dest_flush(job->dest, &why) < 0) {
		fetch_dest_failed(job, why);
		job->npending = 0;
		return;
	}
	for (i = 0; i < job->npending; i++) {
		struct fetch_msg *m = job->pending[i];

		if (journal_add(job->journal, m->uidl, strlen(m->uidl),
				time(NULL), &why) < 0) {
			/* stored, not recorded: a Maildir key finds it */
			job->stop = true;
			job->exit = FETCH_EXIT_IOERR;
			snprintf(job->s.error, sizeof(job->s.error),
				 "journal: %s", why);
			break;
		}
		job->fetched++;
		job->bytes += m->received;
		fetch_event(job, "message", m);
	}
	job->npending = 0;
}

/* A destination without keys (MDA, LMTP, SMTP) cannot tell later what
 * it got: the journal says "?" before each delivery and records it
 * (synced) right after, so a kill leaves at most that one message
 * unknown (fetch_ambiguous). false on a journal error (job->stop). */
static bool fetch_mark_begun(struct fetch_job *job, const struct fetch_msg *m)
{
	const char *why;

	if (fetch_dest_has_keys(job->dest) ||
	    journal_begin(job->journal, m->uidl, strlen(m->uidl), &why) == 0)
		return true;
	job->stop = true;
	job->exit = FETCH_EXIT_IOERR;
	snprintf(job->s.error, sizeof(job->s.error), "journal: %s", why);
	return false;
}

/* The begun delivery did not happen: not unknown. */
static void fetch_unbegin(struct fetch_job *job, const struct fetch_msg *m)
{
	const char *why;

	if (!fetch_dest_has_keys(job->dest))
		(void)journal_forget(job->journal, m->uidl, strlen(m->uidl),
				     &why); /* if lost: delivered again */
}

/* The delivered message into the journal, synced, at once. */
static void fetch_record_now(struct fetch_job *job)
{
	const char *why;

	fetch_flush(job);
	if (!job->stop && journal_sync(job->journal, &why) < 0) {
		job->stop = true;
		job->exit = FETCH_EXIT_IOERR;
		snprintf(job->s.error, sizeof(job->s.error), "journal: %s",
			 why);
	}
}

/* Reads the reply to the RETR of m and stores it. FETCH_EXIT_OK (also
 * when the message could not be stored: job->stop says so) or an exit
 * for a broken connection. */
static int fetch_retrieve_one(struct fetch_job *job, struct fetch_msg *m)
{
	enum fetch_dest_result result;
	struct pop3_status st = { 0 };
	const char *why;
	bool failed = false;
	int ret;

	job->current = m;
	m->received = 0;
	ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
				     sizeof(job->s.reply));
	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "RETR");
	if (st.kind == POP3_ERR)
		return FETCH_EXIT_OK; /* gone meanwhile: the next run sees */
	if (st.kind != POP3_OK) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "RETR: bad reply");
		return FETCH_EXIT_PROTOCOL;
	}
	if (job->stop) {
		ret = pop3client_read_body(&job->s.pc, fetch_discard_sink, job,
					   &failed);
		return ret < 0 ? fetch_session_io_exit(&job->s, ret, "RETR") :
				 FETCH_EXIT_OK;
	}
	if (job->npending >= FETCH_FLUSH_EVERY)
		fetch_flush(job);
	if (!fetch_mark_begun(job, m)) {
		ret = pop3client_read_body(&job->s.pc, fetch_discard_sink, job,
					   &failed);
		return ret < 0 ? fetch_session_io_exit(&job->s, ret, "RETR") :
				 FETCH_EXIT_OK;
	}
	if (fetch_dest_begin(job->dest, m->key, m->env, &why) < 0) {
		fetch_unbegin(job, m);
		fetch_dest_failed(job, why);
		ret = pop3client_read_body(&job->s.pc, fetch_discard_sink, job,
					   &failed);
		return ret < 0 ? fetch_session_io_exit(&job->s, ret, "RETR") :
				 FETCH_EXIT_OK;
	}
	ret = pop3client_read_body(&job->s.pc, fetch_body_sink, job, &failed);
	if (ret < 0 || failed) {
		/* a message is stored whole or not at all */
		fetch_dest_abort(job->dest);
		fetch_unbegin(job, m);
		return ret < 0 ? fetch_session_io_exit(&job->s, ret, "RETR") :
				 FETCH_EXIT_OK;
	}
	result = fetch_dest_commit(job->dest, &why);
	if (result != FETCH_DEST_OK) {
		fetch_unbegin(job, m);
		if (result == FETCH_DEST_PERM)
			fetch_dest_refused(job, why);
		else
			fetch_dest_failed(job, why);
		return FETCH_EXIT_OK;
	}
	m->stored = true;
	job->pending[job->npending++] = m;
	job->progress_msgs++;
	job->progress_bytes += m->received;
	job->progress_octets += m->size;
	fetch_progress(job);
	if (!fetch_dest_has_keys(job->dest))
		fetch_record_now(job);
	return FETCH_EXIT_OK;
}

/* Every new message: RETRs kept in flight up to the window (one at a
 * time without PIPELINING), each stored as its reply streams in. */
static int fetch_retrieve(struct fetch_job *job)
{
	size_t sent = 0, done = 0, inflight = 0;
	uint64_t inflight_octets = 0;
	bool pipelining = job->s.caps.pipelining;
	int ret;

	while (done < job->nwanted) {
		while (sent < job->nwanted && !job->stop &&
		       (inflight == 0 ||
			(pipelining && inflight < FETCH_WINDOW_COMMANDS &&
			 inflight_octets + job->wanted[sent]->size <=
				 FETCH_WINDOW_OCTETS))) {
			struct fetch_msg *m = job->wanted[sent++];

			ret = pop3client_send(&job->s.pc, "RETR %u", m->num);
			if (ret < 0)
				return fetch_session_io_exit(&job->s, ret,
							     "RETR");
			inflight++;
			inflight_octets += m->size;
		}
		if (inflight == 0)
			break; /* stopped: nothing more asked for */
		ret = fetch_retrieve_one(job, job->wanted[done]);
		if (ret != FETCH_EXIT_OK) {
			fetch_flush(job); /* what is stored stays stored */
			return ret;
		}
		inflight--;
		inflight_octets -= job->wanted[done]->size;
		done++;
	}
	fetch_flush(job);
	return FETCH_EXIT_OK;
}

/* Should m go from the server now? */
static bool fetch_delete_due(const struct fetch_job *job,
			     const struct fetch_msg *m, time_t now)
{
	time_t first;

	if (m->delete_unfetched)
		return true;
	if (!journal_has(job->journal, m->uidl, strlen(m->uidl), &first))
		return false;
	if (!job->a->keep)
		return true;
	return job->a->keep_days > 0 &&
	       now - first >= (time_t)job->a->keep_days * 86400;
}

static int fetch_delete(struct fetch_job *job)
{
	struct pop3_status st = { 0 };
	time_t now = time(NULL);
	size_t i = 0, j, batch;
	int ret;

	while (i < job->count) {
		batch = job->s.caps.pipelining ? FETCH_DELE_BATCH : 1;
		for (j = i; j < job->count && batch > 0; j++) {
			if (!fetch_delete_due(job, &job->msgs[j], now))
				continue;
			ret = pop3client_send(&job->s.pc, "DELE %u",
					      job->msgs[j].num);
			if (ret < 0)
				return fetch_session_io_exit(&job->s, ret,
							     "DELE");
			job->msgs[j].dele_sent = true;
			batch--;
		}
		for (; i < j; i++) {
			if (!job->msgs[i].dele_sent)
				continue;
			ret = pop3client_read_status(&job->s.pc, &st,
						     job->s.reply,
						     sizeof(job->s.reply));
			if (ret < 0)
				return fetch_session_io_exit(&job->s, ret,
							     "DELE");
			if (st.kind == POP3_OK)
				job->deleted++;
		}
	}
	return FETCH_EXIT_OK;
}

int fetch_record(struct fetch_job *job, const struct fetch_msg *m)
{
	const char *why;

	if (journal_add(job->journal, m->uidl, strlen(m->uidl), time(NULL),
			&why) == 0)
		return FETCH_EXIT_OK;
	snprintf(job->s.error, sizeof(job->s.error), "journal: %s", why);
	return FETCH_EXIT_IOERR;
}

/* The UIDL of a message whose key says it is in the Maildir although
 * the journal does not know it (a kill between the two). */
static bool fetch_key_found(const char *key, size_t len, void *context)
{
	struct fetch_job *job = context;
	size_t i;

	for (i = 0; i < job->nwanted; i++) {
		struct fetch_msg *m = job->wanted[i];

		if (!m->stored && len == strlen(m->key) &&
		    memcmp(m->key, key, len) == 0)
			m->stored = true;
	}
	return true;
}

/* Messages stored by a run killed before its journal sync: taken out
 * of the wanted list and recorded now. */
static int fetch_recover(struct fetch_job *job)
{
	const char *why;
	size_t i, kept = 0;

	if (job->nwanted == 0 || !fetch_dest_has_keys(job->dest))
		return FETCH_EXIT_OK;
	if (fetch_dest_keys(job->dest, fetch_key_found, job, &why) < 0) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "cannot read the destination: %s", why);
		return FETCH_EXIT_IOERR;
	}
	for (i = 0; i < job->nwanted && !job->wanted[i]->stored; i++)
		;
	/* found some: their names may not be durable yet (the killed run
	 * had not synced new/); only then may the journal name them */
	if (i < job->nwanted && fetch_dest_flush(job->dest, &why) < 0) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "cannot sync the destination: %s", why);
		return FETCH_EXIT_IOERR;
	}
	for (i = 0; i < job->nwanted; i++) {
		struct fetch_msg *m = job->wanted[i];

		if (!m->stored) {
			job->wanted[kept++] = m;
			continue;
		}
		if (fetch_record(job, m) != FETCH_EXIT_OK)
			return FETCH_EXIT_IOERR;
		job->recovered++;
	}
	job->nwanted = kept;
	return FETCH_EXIT_OK;
}

/* Would m go past a per-session cap? The first message always fits
 * (a cap below its size would leave it on the server for ever). */
static bool fetch_over_caps(struct fetch_job *job,
			    const struct fetch_msg *m)
{
	const struct fetch_account *a = job->a;

	if (job->nwanted == 0)
		return false;
	if (a->max_messages > 0 && job->nwanted >= a->max_messages)
		return true;
	return a->max_bytes > 0 && job->wanted_octets + m->size > a->max_bytes;
}

/* A message whose delivery a kill left unknown (journal "?"): fetched
 * again (redeliver, 1: a duplicate maybe) or recorded unfetched (skip,
 * 0: lost maybe). -1 on a journal error. */
static int fetch_ambiguous(struct fetch_job *job, const struct fetch_msg *m)
{
	if (!job->a->ambiguous_skip) {
		job->redelivered++;
		return 1;
	}
	if (fetch_record(job, m) != FETCH_EXIT_OK)
		return -1;
	job->ambiguous_skipped++;
	return 0;
}

/* Which messages to fetch; stops on a mass UIDL change. */
static int fetch_select(struct fetch_job *job)
{
	size_t i, known = 0;
	int ret;

	for (i = 0; i < job->count; i++) {
		struct fetch_msg *m = &job->msgs[i];

		if (journal_has(job->journal, m->uidl, strlen(m->uidl), NULL)) {
			known++;
			continue;
		}
		if (m->uidl[0] == '\0')
			continue; /* not in the UIDL listing */
		if (job->a->delete_larger > 0 &&
		    m->size > job->a->delete_larger) {
			m->delete_unfetched = true; /* as asked: unseen */
			job->deleted_unfetched++;
			continue;
		}
		if (job->a->skip_larger > 0 && m->size > job->a->skip_larger) {
			job->skipped++;
			continue;
		}
		if (fetch_over_caps(job, m)) {
			job->deferred++;
			continue;
		}
		if (journal_pending(job->journal, m->uidl, strlen(m->uidl))) {
			ret = fetch_ambiguous(job, m);
			if (ret < 0)
				return FETCH_EXIT_IOERR;
			if (ret == 0)
				continue;
		}
		if (fetch_listing_key(job, m) < 0) {
			snprintf(job->s.error, sizeof(job->s.error),
				 "cannot make the message keys");
			return FETCH_EXIT_IOERR;
		}
		job->wanted[job->nwanted++] = m;
		job->wanted_octets += m->size;
	}
	if (job->a->keep && !job->a->accept_new_uidls && known == 0 &&
	    job->count >= FETCH_MASS_CHANGE_MIN &&
	    journal_count(job->journal) >= FETCH_MASS_CHANGE_MIN &&
	    job->a->match_headers) {
		job->match_headers = true; /* fetch_match.c finds them */
		return FETCH_EXIT_OK;
	}
	if (job->a->keep && !job->a->accept_new_uidls && known == 0 &&
	    job->count >= FETCH_MASS_CHANGE_MIN &&
	    journal_count(job->journal) >= FETCH_MASS_CHANGE_MIN) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "none of the %zu messages on the server has a UIDL "
			 "fetched before, though %zu were: the server changed "
			 "its UIDLs (a migration?); nothing fetched: "
			 "--match-headers finds the ones stored here by "
			 "their headers, --accept-new-uidls fetches them all "
			 "again",
			 job->count, journal_count(job->journal));
		return FETCH_EXIT_UNAVAILABLE;
	}
	return FETCH_EXIT_OK;
}

/* Forgets the journal's entries of messages no longer on the server,
 * after the grace period, and compacts it when that pays. */
static void fetch_prune(struct fetch_job *job)
{
	const char *why;

	if (fetch_listing_prune(job, FETCH_FORGET_SECS) < 0 ||
	    journal_compact(job->journal, false, &why) < 0 ||
	    journal_sync(job->journal, &why) < 0)
		return; /* only its size suffers; logged by nobody: fine */
}

static void fetch_log(struct fetch_job *job)
{
	double secs = (double)(fetch_now_ms() - job->start_ms) / 1000.0;

	if (job->a->json) {
		printf("{\"event\":\"done\",\"account\":");
		fetch_json_string(stdout, job->a->name);
		printf(",\"new\":%zu,\"deleted\":%zu,\"bytes\":%llu,"
		       "\"exit\":%d", job->fetched, job->deleted,
		       (unsigned long long)job->bytes, job->exit);
		printf(",\"deferred\":%zu,\"redelivered\":%zu,"
		       "\"ambiguous_skipped\":%zu", job->deferred,
		       job->redelivered, job->ambiguous_skipped);
		if (job->exit != FETCH_EXIT_OK) {
			printf(",\"error\":");
			fetch_json_string(stdout, job->s.error);
		}
		printf("}\n");
		fflush(stdout);
	}
	if (job->tty)
		fputc('\n', stderr); /* below the progress line */
	if (job->a->quiet && job->exit == FETCH_EXIT_OK)
		return;
	fprintf(stderr, "fetch: %s: %zu new, %zu deleted, %llu bytes in "
		"%.1f s", job->a->name, job->fetched, job->deleted,
		(unsigned long long)job->bytes, secs);
	if (job->recovered > 0)
		fprintf(stderr, ", %zu found stored already", job->recovered);
	if (job->skipped > 0)
		fprintf(stderr, ", %zu too large skipped", job->skipped);
	if (job->refused > 0)
		fprintf(stderr, ", %zu refused by the destination (left on the "
			"server)", job->refused);
	if (job->skipped_by_header > 0)
		fprintf(stderr, ", %zu left on the server (--skip-header)",
			job->skipped_by_header);
	if (job->previewed > 0)
		fprintf(stderr, ", %zu new previewed, none fetched",
			job->previewed);
	if (job->no_envelope > 0)
		fprintf(stderr, ", %zu without an envelope from *ENV (to the "
			"account's recipient)", job->no_envelope);
	if (job->matched > 0)
		fprintf(stderr, ", %zu under new UIDLs found stored already "
			"(by their headers)", job->matched);
	if (job->deleted_unfetched > 0)
		fprintf(stderr, ", %zu too large deleted unfetched",
			job->deleted_unfetched);
	if (job->deferred > 0)
		fprintf(stderr, ", %zu left for the next session (cap)",
			job->deferred);
	if (job->redelivered > 0)
		fprintf(stderr, ", %zu delivered again after an interrupted "
			"delivery (maybe twice now)", job->redelivered);
	if (job->ambiguous_skipped > 0)
		fprintf(stderr, ", %zu not delivered again after an "
			"interrupted delivery (--ambiguous skip: check them)",
			job->ambiguous_skipped);
	if (job->exit != FETCH_EXIT_OK)
		fprintf(stderr, ", error: %s", job->s.error);
	fputc('\n', stderr);
}

static uint64_t fetch_mark_ident(const struct fetch_account *a);

static int fetch_open_state(struct fetch_job *job)
{
	char path[4096];
	const char *why = "cannot open the journal";
	size_t len;
	int ret;

	if (fetch_state_path(job->a, path, sizeof(path)) < 0) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "state directory path too long");
		return FETCH_EXIT_CONFIG;
	}
	/* the records are read only when the mailbox changed */
	ret = journal_open_unread(path, &job->journal, &why);
	if (ret == JOURNAL_BUSY) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "another fetch of this account is running");
		return FETCH_EXIT_TEMPFAIL;
	}
	if (ret != JOURNAL_OK) {
		snprintf(job->s.error, sizeof(job->s.error), "%.300s: %s",
			 path, why);
		return FETCH_EXIT_IOERR;
	}
	len = strlen(path) - strlen(".journal");
	snprintf(job->mark_path, sizeof(job->mark_path), "%.*s.mark",
		 (int)len, path);
	job->have_mark = job->a->keep &&
			 fetch_mark_read(job->mark_path, &job->mark) == 0 &&
			 fetch_mark_usable(&job->mark, fetch_mark_ident(job->a),
					   time(NULL));
	return FETCH_EXIT_OK;
}

/* Whom a mark is of: the server, the user, and the keep setting that
 * its due time was computed with. */
static uint64_t fetch_mark_ident(const struct fetch_account *a)
{
	char text[POPURL_USER_MAX + POPURL_HOST_MAX + 64];

	snprintf(text, sizeof(text), "%s@%s:%u keep=%d/%u", a->url.user,
		 a->url.host, (unsigned)a->url.port, a->keep, a->keep_days);
	return strhash(text);
}

/* After a whole session: a mark when the listing left nothing to do
 * (fetch_mark.h), else none. */
static void fetch_mark_update(struct fetch_job *job)
{
	struct fetch_mark mark = { .count = job->count,
				   .octets = job->octets,
				   .listed_at = time(NULL) };
	time_t first;
	size_t i;

	if (!job->a->keep || job->count == 0 || job->deleted > 0 ||
	    job->skipped > 0 || job->octets == UINT64_MAX) {
		fetch_mark_remove(job->mark_path);
		return;
	}
	for (i = 0; i < job->count; i++) {
		const struct fetch_msg *m = &job->msgs[i];

		if (!journal_has(job->journal, m->uidl, strlen(m->uidl),
				 &first)) {
			fetch_mark_remove(job->mark_path);
			return;
		}
		if (job->a->keep_days > 0) {
			time_t due = first + (time_t)job->a->keep_days * 86400;

			if (mark.due == 0 || due < mark.due)
				mark.due = due;
		}
	}
	mark.ident = fetch_mark_ident(job->a);
	snprintf(mark.first, sizeof(mark.first), "%s", job->msgs[0].uidl);
	snprintf(mark.last, sizeof(mark.last), "%s",
		 job->msgs[job->count - 1].uidl);
	if (fetch_mark_write(job->mark_path, &mark) < 0)
		fetch_mark_remove(job->mark_path); /* none beats a wrong one */
}

static int fetch_open_dest(struct fetch_job *job)
{
	struct fetch_dest_settings set = {
		.rcpt = job->a->rcpt, .hostname = job->hostname,
		.timeout_secs = job->a->timeout_secs,
	};
	const char *why;

	if (fetch_dest_open(job->a->dest, &set, &job->dest, &why) < 0) {
		snprintf(job->s.error, sizeof(job->s.error), "%s", why);
		return FETCH_EXIT_IOERR;
	}
	return FETCH_EXIT_OK;
}

static bool fetch_any_new(const struct fetch_job *job)
{
	size_t i;

	for (i = 0; i < job->count; i++) {
		const struct fetch_msg *m = &job->msgs[i];

		if (m->uidl[0] != '\0' &&
		    !journal_has(job->journal, m->uidl, strlen(m->uidl), NULL))
			return true;
	}
	return false;
}

/* Everything after the login, up to (not including) QUIT. */
static int fetch_mail(struct fetch_job *job)
{
	const char *why;
	bool same = false;
	int ret;

	ret = fetch_listing_stat(job);
	if (ret == FETCH_EXIT_OK && job->have_mark)
		ret = fetch_listing_unchanged(job, &job->mark, &same);
	if (ret == FETCH_EXIT_OK && same) {
		job->unchanged = true; /* fetch_mark.h: nothing to do */
		return FETCH_EXIT_OK;
	}
	if (ret == FETCH_EXIT_OK && journal_load(job->journal, &why) < 0) {
		snprintf(job->s.error, sizeof(job->s.error), "journal: %s",
			 why);
		return FETCH_EXIT_IOERR;
	}
	if (ret == FETCH_EXIT_OK)
		ret = fetch_listing_uidls(job);
	/* sizes (LIST) only when something is new: they bound the window
	 * and skip_larger; a poll with nothing new skips them */
	if (ret == FETCH_EXIT_OK && fetch_any_new(job))
		ret = fetch_listing_sizes(job);
	if (ret == FETCH_EXIT_OK)
		ret = fetch_select(job);
	if (ret == FETCH_EXIT_OK && job->match_headers)
		ret = fetch_match_headers(job);
	if (ret == FETCH_EXIT_OK && job->a->skip_header != NULL)
		ret = fetch_filter_headers(job);
	if (ret == FETCH_EXIT_OK && job->a->preview)
		ret = fetch_preview(job);
	if (ret == FETCH_EXIT_OK)
		ret = fetch_recover(job);
	if (ret == FETCH_EXIT_OK && job->a->sdps)
		ret = fetch_sdps_envelopes(job);
	if (ret == FETCH_EXIT_OK)
		ret = fetch_retrieve(job);
	if (ret != FETCH_EXIT_OK)
		job->exit = ret;
	/* group commit: one fsync for all; none before any DELE is none */
	if (journal_sync(job->journal, &why) < 0) {
		snprintf(job->s.error, sizeof(job->s.error), "journal: %s",
			 why);
		return FETCH_EXIT_IOERR;
	}
	if (ret != FETCH_EXIT_OK || job->a->preview)
		return ret; /* a preview changes nothing on the server */
	return fetch_delete(job);
}

/* EXTERNAL (the client certificate) and GSSAPI (the Kerberos ticket)
 * log in with what the system holds: no password to ask for. */
static bool fetch_needs_password(const struct fetch_account *a)
{
	return a->url.auth != POPURL_AUTH_SASL ||
	       (strcmp(a->url.mech, "EXTERNAL") != 0 &&
		strcmp(a->url.mech, "GSSAPI") != 0);
}

/* A bearer token from a command: worth one refresh on a refusal. */
static bool fetch_is_oauth(const struct fetch_account *a)
{
	return a->password_command != NULL &&
	       a->url.auth == POPURL_AUTH_SASL &&
	       (strcmp(a->url.mech, "XOAUTH2") == 0 ||
		strcmp(a->url.mech, "OAUTHBEARER") == 0);
}

int fetch_run(const struct fetch_account *a)
{
	struct fetch_job job;
	char password[FETCH_PASSWORD_MAX];
	const char *why;
	bool quit_ok;
	int ret;

	memset(&job, 0, sizeof(job));
	conn_init(&job.s.pc.conn, -1);
	job.a = a;
	job.start_ms = fetch_now_ms();
	job.tty = isatty(STDERR_FILENO) && !a->json && !a->quiet;
	if (gethostname(job.hostname, sizeof(job.hostname) - 1) < 0)
		snprintf(job.hostname, sizeof(job.hostname), "localhost");
	ret = fetch_open_state(&job);
	if (ret == FETCH_EXIT_OK)
		ret = fetch_open_dest(&job);
	password[0] = '\0';
	if (ret == FETCH_EXIT_OK && fetch_needs_password(a) &&
	    fetch_password_get(a->password_file, a->password_command,
			       a->name, password, sizeof(password),
			       &why) < 0) {
		snprintf(job.s.error, sizeof(job.s.error), "%s", why);
		ret = FETCH_EXIT_CONFIG;
	}
	if (ret == FETCH_EXIT_OK) {
		ret = fetch_session_open(&job.s, a, password);
		/* an OAuth token may have expired since the helper cached
		 * it: ask for a fresh one, once */
		if (ret == FETCH_EXIT_NOPERM && fetch_is_oauth(a) &&
		    fetch_password_get(NULL, a->password_command, a->name,
				       password, sizeof(password), &why) == 0) {
			fetch_session_close(&job.s);
			memset(&job.s, 0, sizeof(job.s));
			conn_init(&job.s.pc.conn, -1);
			ret = fetch_session_open(&job.s, a, password);
		}
		explicit_bzero(password, sizeof(password));
	}
	if (ret == FETCH_EXIT_OK) {
		/* RFC 2449 6.8: the next login must wait this long */
		if (job.s.caps.login_delay > 0)
			fetch_daemon_note_delay(
				a, time(NULL) + job.s.caps.login_delay);
		fetch_event(&job, "connected", NULL);
		job.exit = FETCH_EXIT_OK;
		ret = fetch_mail(&job);
	}
	quit_ok = fetch_session_close(&job.s);
	if (ret == FETCH_EXIT_OK && job.exit != FETCH_EXIT_OK)
		ret = job.exit;
	if (quit_ok && job.listed)
		fetch_prune(&job);
	if (ret == FETCH_EXIT_OK && quit_ok && job.listed)
		fetch_mark_update(&job);
	job.exit = ret;
	fetch_log(&job);
	fetch_dest_close(&job.dest);
	journal_close(&job.journal);
	fetch_listing_free(&job);
	return ret;
}
