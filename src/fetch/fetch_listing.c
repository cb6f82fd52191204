/* fetch_listing.c: what the server lists, as the fetch client keeps it
 * (fetch_run_private.h): STAT, UIDL and LIST, bounded and checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "fetch/fetch_mark.h"
#include "fetch/fetch_run_private.h"
#include "fetch/journal.h"
#include "store/uidl.h"
#include "util/strnum.h"

/* "N REST": the message number (1..count) and where REST starts. */
static struct fetch_msg *fetch_listing_entry(struct fetch_job *job,
					     char *line, char **rest_r)
{
	char *sp = strchr(line, ' ');
	uint64_t n;

	if (sp == NULL)
		return NULL;
	*sp = '\0';
	if (strnum_parse_u64(line, job->count, &n) < 0 || n == 0)
		return NULL;
	*rest_r = sp + 1 + strspn(sp + 1, " ");
	return &job->msgs[n - 1];
}

int fetch_listing_key(struct fetch_job *job, struct fetch_msg *m)
{
	char digest[UIDL_DIGEST_HEX + 1];
	struct iovec parts[2] = {
		{ (void *)job->a->name, strlen(job->a->name) },
		{ m->uidl, strlen(m->uidl) },
	};

	if (uidl_digest(parts, 2, digest) < 0)
		return -1;
	memcpy(m->key, digest, FETCH_KEY_HEX);
	m->key[FETCH_KEY_HEX] = '\0';
	return 0;
}

struct fetch_uidl_parse {
	struct fetch_job *job;
	struct uidl_set seen;
};

static bool fetch_listing_uidl_line(char *line, size_t len, void *context)
{
	struct fetch_uidl_parse *p = context;
	struct fetch_job *job = p->job;
	struct fetch_msg *m;
	char *uidl;
	size_t ulen;

	m = fetch_listing_entry(job, line, &uidl);
	if (m == NULL || m->uidl[0] != '\0') {
		snprintf(job->s.pc.error, sizeof(job->s.pc.error),
			 "bad UIDL listing line");
		return false;
	}
	ulen = strcspn(uidl, " ");
	if (uidl_is_valid(uidl, ulen)) {
		memcpy(m->uidl, uidl, ulen);
		m->uidl[ulen] = '\0';
	} else {
		/* RFC 1939 7. allows none of it; still, the message is
		 * fetched: under a name made from what was sent */
		struct iovec part = { uidl, ulen };
		char digest[UIDL_DIGEST_HEX + 1];

		if (ulen == 0 || uidl_digest(&part, 1, digest) < 0)
			return false;
		snprintf(m->uidl, sizeof(m->uidl), "~%s", digest);
	}
	/* a repeated UIDL would make one message hide another */
	uidl_set_add_unique(&p->seen, m->uidl);
	return true;
}

int fetch_listing_stat(struct fetch_job *job)
{
	struct pop3_status st = { 0 };
	char *sp, count[48];
	uint64_t n, octets = 0;
	int ret;

	ret = pop3client_send(&job->s.pc, "STAT");
	if (ret == 0)
		ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
					     sizeof(job->s.reply));
	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "STAT");
	snprintf(count, sizeof(count), "%.*s", (int)st.text_len, st.text);
	sp = strchr(count, ' ');
	if (sp != NULL) {
		*sp++ = '\0';
		sp[strcspn(sp, " ")] = '\0';
		/* only the no-news shortcut needs it: unreadable is unknown */
		if (strnum_parse_u64(sp, UINT64_MAX, &octets) < 0)
			octets = UINT64_MAX;
	}
	if (st.kind != POP3_OK ||
	    strnum_parse_u64(count, FETCH_MESSAGES_MAX, &n) < 0) {
		snprintf(job->s.error, sizeof(job->s.error),
			 "STAT: bad reply or more than %u messages",
			 FETCH_MESSAGES_MAX);
		return FETCH_EXIT_PROTOCOL;
	}
	job->count = (size_t)n;
	job->octets = octets;
	return FETCH_EXIT_OK;
}

/* job->msgs and the lists over them, for count messages: made only
 * once the mailbox is to be listed (a no-news poll touches none). */
static int fetch_listing_alloc(struct fetch_job *job)
{
	size_t i;

	job->msgs = calloc(job->count + 1, sizeof(*job->msgs));
	job->wanted = calloc(job->count + 1, sizeof(*job->wanted));
	job->pending = calloc(job->count + 1, sizeof(*job->pending));
	if (job->msgs == NULL || job->wanted == NULL || job->pending == NULL) {
		snprintf(job->s.error, sizeof(job->s.error), "out of memory");
		return FETCH_EXIT_IOERR;
	}
	for (i = 0; i < job->count; i++)
		job->msgs[i].num = (unsigned)(i + 1);
	return FETCH_EXIT_OK;
}

int fetch_listing_uidls(struct fetch_job *job)
{
	struct fetch_uidl_parse p = { .job = job };
	struct pop3_status st = { 0 };
	int ret;

	if (job->count == 0) {
		job->listed = true;
		return FETCH_EXIT_OK;
	}
	ret = fetch_listing_alloc(job);
	if (ret != FETCH_EXIT_OK)
		return ret;
	if (uidl_set_init(&p.seen, job->count) < 0) {
		snprintf(job->s.error, sizeof(job->s.error), "out of memory");
		return FETCH_EXIT_IOERR;
	}
	ret = pop3client_send(&job->s.pc, "UIDL");
	if (ret == 0)
		ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
					     sizeof(job->s.reply));
	if (ret == 0 && st.kind != POP3_OK) {
		uidl_set_deinit(&p.seen);
		snprintf(job->s.error, sizeof(job->s.error),
			 "the server has no UIDL: it cannot tell which "
			 "messages were fetched before");
		return FETCH_EXIT_UNAVAILABLE;
	}
	if (ret == 0)
		ret = pop3client_read_lines(&job->s.pc,
					    fetch_listing_uidl_line, &p);
	uidl_set_deinit(&p.seen);
	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "UIDL");
	job->listed = true;
	return FETCH_EXIT_OK;
}

/* Reads the reply to "UIDL num": true when it names num and uidl. */
static int fetch_listing_one_uidl(struct fetch_job *job, unsigned num,
				  const char *uidl, bool *same_r)
{
	struct pop3_status st = { 0 };
	char text[128], *sp;
	uint64_t n;
	int ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
					 sizeof(job->s.reply));

	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "UIDL");
	snprintf(text, sizeof(text), "%.*s", (int)st.text_len, st.text);
	sp = strchr(text, ' ');
	if (st.kind != POP3_OK || sp == NULL)
		return FETCH_EXIT_OK; /* not the same: list them all */
	*sp++ = '\0';
	sp[strcspn(sp, " ")] = '\0';
	if (strnum_parse_u64(text, job->count, &n) == 0 && n == num &&
	    strcmp(sp, uidl) == 0)
		*same_r = true;
	return FETCH_EXIT_OK;
}

int fetch_listing_unchanged(struct fetch_job *job,
			    const struct fetch_mark *mark, bool *same_r)
{
	unsigned last = (unsigned)job->count;
	bool first_same = false, last_same = false;
	int ret;

	*same_r = false;
	if (job->count != mark->count || job->octets != mark->octets)
		return FETCH_EXIT_OK;
	/* both asked at once where the server pipelines */
	ret = pop3client_send(&job->s.pc, "UIDL 1");
	if (ret == 0 && job->s.caps.pipelining)
		ret = pop3client_send(&job->s.pc, "UIDL %u", last);
	if (ret < 0)
		return fetch_session_io_exit(&job->s, ret, "UIDL");
	ret = fetch_listing_one_uidl(job, 1, mark->first, &first_same);
	if (ret == FETCH_EXIT_OK && !job->s.caps.pipelining) {
		if (!first_same)
			return FETCH_EXIT_OK;
		ret = pop3client_send(&job->s.pc, "UIDL %u", last);
		if (ret < 0)
			return fetch_session_io_exit(&job->s, ret, "UIDL");
	}
	if (ret == FETCH_EXIT_OK)
		ret = fetch_listing_one_uidl(job, last, mark->last,
					     &last_same);
	*same_r = first_same && last_same;
	return ret;
}

static bool fetch_listing_size_line(char *line, size_t len, void *context)
{
	struct fetch_job *job = context;
	struct fetch_msg *m;
	char *size;
	uint64_t n;

	m = fetch_listing_entry(job, line, &size);
	if (m == NULL) {
		snprintf(job->s.pc.error, sizeof(job->s.pc.error),
			 "bad LIST line");
		return false;
	}
	size[strcspn(size, " ")] = '\0';
	if (strnum_parse_u64(size, UINT64_MAX / 2, &n) == 0)
		m->size = n;
	return true;
}

int fetch_listing_sizes(struct fetch_job *job)
{
	struct pop3_status st = { 0 };
	int ret = pop3client_send(&job->s.pc, "LIST");

	if (ret == 0)
		ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
					     sizeof(job->s.reply));
	if (ret == 0 && st.kind != POP3_OK)
		return FETCH_EXIT_OK; /* sizes unknown: a window of one */
	if (ret == 0)
		ret = pop3client_read_lines(&job->s.pc,
					    fetch_listing_size_line, job);
	return ret < 0 ? fetch_session_io_exit(&job->s, ret, "LIST") :
			 FETCH_EXIT_OK;
}

struct fetch_prune {
	struct uidl_set listed;
	time_t before;
	char **gone;
	size_t ngone, cap;
};

static bool fetch_listing_prune_one(const char *uidl, time_t first_seen,
				    void *context)
{
	struct fetch_prune *p = context;
	char **grown;

	if (first_seen >= p->before || !uidl_set_add(&p->listed, uidl))
		return true;
	if (p->ngone == p->cap) {
		p->cap = p->cap == 0 ? 64 : p->cap * 2;
		grown = realloc(p->gone, p->cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		p->gone = grown;
	}
	p->gone[p->ngone] = strdup(uidl);
	if (p->gone[p->ngone] == NULL)
		return false;
	p->ngone++;
	return true;
}

int fetch_listing_prune(struct fetch_job *job, long grace_secs)
{
	struct fetch_prune p = { .before = time(NULL) - grace_secs };
	const char *why;
	size_t i;
	int ret = 0;

	if (uidl_set_init(&p.listed, job->count + journal_count(job->journal)) <
	    0)
		return -1;
	for (i = 0; i < job->count; i++)
		uidl_set_add(&p.listed, job->msgs[i].uidl);
	journal_foreach(job->journal, fetch_listing_prune_one, &p);
	for (i = 0; i < p.ngone; i++) {
		if (ret == 0 && journal_forget(job->journal, p.gone[i],
					       strlen(p.gone[i]), &why) < 0)
			ret = -1;
	}
	uidl_set_deinit(&p.listed);
	for (i = 0; i < p.ngone; i++)
		free(p.gone[i]);
	free(p.gone);
	return ret;
}

void fetch_listing_free(struct fetch_job *job)
{
	size_t i;

	for (i = 0; job->msgs != NULL && i < job->count; i++)
		free(job->msgs[i].env);
	free(job->msgs);
	free(job->wanted);
	free(job->pending);
	job->msgs = NULL;
	job->wanted = NULL;
	job->pending = NULL;
	job->count = job->nwanted = 0;
}

int fetch_state_path(const struct fetch_account *a, char *out, size_t size)
{
	size_t i, len;
	int n = snprintf(out, size, "%s/", a->state_dir);

	if (n < 0 || (size_t)n >= size)
		return -1;
	len = (size_t)n;
	for (i = 0; a->name[i] != '\0' && len + 1 < size; i++) {
		char c = a->name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || strchr("._@:+-", c);

		out[len++] = ok && !(i == 0 && c == '.') ? c : '_';
	}
	n = snprintf(out + len, size - len, ".journal");
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}
