/* fetch_fingerprint.c: a message's identity from its header
 * (fetch_fingerprint.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "fetch/fetch_fingerprint.h"

/* a header line longer than this counts by its first octets only */
#define FP_LINE_MAX 998
/* each value is kept up to this (Subjects can be long; enough to tell) */
#define FP_VALUE_MAX 512

static const char *const fp_fields[] = {
	"message-id", "date", "from", "subject",
};
#define FP_FIELDS (sizeof(fp_fields) / sizeof(fp_fields[0]))

struct fetch_fingerprint {
	char line[FP_LINE_MAX + 1];  /* the logical line so far */
	size_t line_len;
	bool at_line_start;          /* of a physical line */
	bool done;                   /* the empty line was seen */
	char values[FP_FIELDS][FP_VALUE_MAX + 1];
	size_t value_len[FP_FIELDS];
	bool seen[FP_FIELDS];
};

struct fetch_fingerprint *fetch_fingerprint_new(void)
{
	struct fetch_fingerprint *fp = calloc(1, sizeof(*fp));

	if (fp != NULL)
		fp->at_line_start = true;
	return fp;
}

void fetch_fingerprint_free(struct fetch_fingerprint **fpp)
{
	free(*fpp);
	*fpp = NULL;
}

/* One logical (unfolded) line: if it is one of the fields, its value
 * with white space runs made one space and the ends trimmed. */
static void fp_take_line(struct fetch_fingerprint *fp)
{
	const char *colon = memchr(fp->line, ':', fp->line_len);
	size_t i, name_len;

	if (colon == NULL)
		return;
	name_len = (size_t)(colon - fp->line);
	for (i = 0; i < FP_FIELDS; i++) {
		const char *p = colon + 1, *end = fp->line + fp->line_len;
		char *out = fp->values[i];
		size_t n = 0;
		bool space = false;

		if (fp->seen[i] || strlen(fp_fields[i]) != name_len ||
		    strncasecmp(fp->line, fp_fields[i], name_len) != 0)
			continue;
		fp->seen[i] = true;
		for (; p < end && n < FP_VALUE_MAX; p++) {
			bool ws = *p == ' ' || *p == '\t' || *p == '\r';

			if (ws) {
				space = n > 0;
				continue;
			}
			if (space)
				out[n++] = ' ';
			space = false;
			if (n < FP_VALUE_MAX)
				out[n++] = *p;
		}
		fp->value_len[i] = n;
		return;
	}
}

void fetch_fingerprint_feed(struct fetch_fingerprint *fp, const char *data,
			    size_t len)
{
	const char *p = data, *end = data + len;

	while (p < end && !fp->done) {
		char c = *p++;

		if (c == '\r')
			continue; /* CRLF or LF: the same header */
		if (c == '\n') {
			/* an empty line ends the header */
			fp->done = fp->at_line_start;
			fp->at_line_start = true;
			continue;
		}
		if (fp->at_line_start) {
			fp->at_line_start = false;
			if (c == ' ' || c == '\t') {
				/* folded: the same logical line goes on */
				if (fp->line_len < FP_LINE_MAX)
					fp->line[fp->line_len++] = ' ';
				continue;
			}
			if (fp->line_len > 0)
				fp_take_line(fp);
			fp->line_len = 0;
		}
		if (fp->line_len < FP_LINE_MAX)
			fp->line[fp->line_len++] = c;
	}
}

bool fetch_fingerprint_finish(struct fetch_fingerprint *fp, char *out)
{
	struct iovec parts[FP_FIELDS];
	bool any = false;
	size_t i;

	if (fp->line_len > 0)
		fp_take_line(fp); /* the last field (or a header alone) */
	for (i = 0; i < FP_FIELDS; i++) {
		parts[i].iov_base = fp->values[i];
		parts[i].iov_len = fp->value_len[i];
		any = any || fp->value_len[i] > 0;
	}
	any = any && uidl_digest(parts, FP_FIELDS, out) == 0;
	memset(fp, 0, sizeof(*fp));
	fp->at_line_start = true;
	return any;
}
