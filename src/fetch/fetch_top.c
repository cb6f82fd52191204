/* fetch_top.c: what TOP n 0 tells of the new messages before any is
 * fetched: each wanted message's header goes to a verdict that keeps it
 * wanted or drops it (fetch_top_each); on that, the preview (--preview:
 * list them, fetch nothing) and the header filter (--skip-header: leave
 * the matching ones on the server). fetch_match.c is the third user. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch_header.h"
#include "fetch/fetch_run_private.h"

/* TOPs in flight with PIPELINING */
#define FETCH_TOP_WINDOW 64
/* a TOP n 0 reply is a header: past this it is a hostile server */
#define FETCH_TOP_REPLY_MAX (1u << 20)

struct fetch_top_reply {
	char *buf;             /* the first FETCH_DEST_HEAD_MAX octets */
	size_t len, total;
};

static int fetch_top_sink(const char *data, size_t len, void *context)
{
	struct fetch_top_reply *r = context;
	size_t room = FETCH_DEST_HEAD_MAX - r->len;

	r->total += len;
	if (r->total > FETCH_TOP_REPLY_MAX)
		return -2;
	memcpy(r->buf + r->len, data, len < room ? len : room);
	r->len += len < room ? len : room;
	return 0;
}

/* Reads the reply to the TOP of m and asks fn about it. */
static enum fetch_top_verdict
fetch_top_one(struct fetch_job *job, struct fetch_msg *m,
	      struct fetch_top_reply *r, fetch_top_fn *fn, void *context,
	      int *ret_r)
{
	struct pop3_status st = { 0 };
	bool failed = false;
	int ret;

	r->len = r->total = 0;
	ret = pop3client_read_status(&job->s.pc, &st, job->s.reply,
				     sizeof(job->s.reply));
	if (ret == 0 && st.kind == POP3_OK)
		ret = pop3client_read_body(&job->s.pc, fetch_top_sink, r,
					   &failed);
	if (ret < 0) {
		*ret_r = fetch_session_io_exit(&job->s, ret, "TOP");
		return FETCH_TOP_FAIL;
	}
	/* no TOP for it: fn sees an empty header */
	return fn(job, m, r->buf, st.kind == POP3_OK ? r->len : 0, context);
}

int fetch_top_each(struct fetch_job *job, fetch_top_fn *fn, void *context)
{
	size_t window = job->s.caps.pipelining ? FETCH_TOP_WINDOW : 1;
	struct fetch_top_reply r = { .buf = malloc(FETCH_DEST_HEAD_MAX) };
	size_t i = 0, kept = 0, sent, j;
	int ret = FETCH_EXIT_OK;

	if (r.buf == NULL) {
		snprintf(job->s.error, sizeof(job->s.error), "out of memory");
		return FETCH_EXIT_IOERR;
	}
	while (i < job->nwanted && ret == FETCH_EXIT_OK) {
		for (sent = i; sent < job->nwanted && sent - i < window; sent++) {
			ret = pop3client_send(&job->s.pc, "TOP %u 0",
					      job->wanted[sent]->num);
			if (ret < 0) {
				ret = fetch_session_io_exit(&job->s, ret, "TOP");
				break;
			}
		}
		for (j = i; j < sent && ret == FETCH_EXIT_OK; j++) {
			struct fetch_msg *m = job->wanted[j];

			switch (fetch_top_one(job, m, &r, fn, context, &ret)) {
			case FETCH_TOP_KEEP:
				job->wanted[kept++] = m;
				break;
			case FETCH_TOP_DROP:
				break;
			case FETCH_TOP_FAIL:
				if (ret == FETCH_EXIT_OK)
					ret = FETCH_EXIT_IOERR;
				break;
			}
		}
		i = sent;
	}
	free(r.buf);
	if (ret == FETCH_EXIT_OK)
		job->nwanted = kept;
	return ret;
}

/* --preview: one line per new message on stdout (or a JSON event),
 * the header's text escaped (it is the server's, untrusted). */
static void fetch_preview_field(FILE *out, const char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static enum fetch_top_verdict fetch_preview_one(struct fetch_job *job,
						struct fetch_msg *m,
						const char *hdr, size_t len,
						void *context)
{
	static const char *const fields[] = { "From", "Subject", "Date" };
	char value[FETCH_PREVIEW_VALUE_MAX];
	size_t i;

	if (job->a->json) {
		printf("{\"event\":\"preview\",\"uidl\":");
		fetch_json_string(stdout, m->uidl);
		printf(",\"size\":%llu", (unsigned long long)m->size);
	} else {
		printf("%u %llu", m->num, (unsigned long long)m->size);
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		fetch_header_get(hdr, len, fields[i], value, sizeof(value));
		if (job->a->json) {
			printf(",\"%c%s\":", fields[i][0] | 0x20, fields[i] + 1);
			fetch_json_string(stdout, value);
		} else {
			fputc('\t', stdout);
			fetch_preview_field(stdout, value);
		}
	}
	printf(job->a->json ? "}\n" : "\n");
	job->previewed++;
	return FETCH_TOP_DROP;
}

int fetch_preview(struct fetch_job *job)
{
	int ret = fetch_top_each(job, fetch_preview_one, NULL);

	fflush(stdout);
	return ret;
}

/* --skip-header "Name: text": the field's value holds text (without
 * case): left on the server, unfetched. */
static enum fetch_top_verdict fetch_filter_one(struct fetch_job *job,
					       struct fetch_msg *m,
					       const char *hdr, size_t len,
					       void *context)
{
	const char *rule = job->a->skip_header, *colon = strchr(rule, ':');
	char name[128], value[FETCH_PREVIEW_VALUE_MAX];
	const char *want = colon + 1 + strspn(colon + 1, " \t");

	snprintf(name, sizeof(name), "%.*s", (int)(colon - rule), rule);
	if (fetch_header_get(hdr, len, name, value, sizeof(value)) &&
	    strcasestr(value, want) != NULL) {
		job->skipped_by_header++;
		return FETCH_TOP_DROP;
	}
	return FETCH_TOP_KEEP;
}

bool fetch_skip_header_valid(const char *rule)
{
	const char *colon = strchr(rule, ':'), *p;

	if (colon == NULL || colon == rule || colon - rule >= 128 ||
	    colon[1 + strspn(colon + 1, " \t")] == '\0')
		return false;
	for (p = rule; p < colon; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	}
	return true;
}

int fetch_filter_headers(struct fetch_job *job)
{
	return fetch_top_each(job, fetch_filter_one, NULL);
}
