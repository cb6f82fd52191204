/* mimescan.c: which messages need UTF-8 mode (mimescan.h). Line by line:
 * in a header every octet is checked and Content-Type is kept (unfolded)
 * for its boundary; in a body only lines that begin with "--" matter,
 * compared with the boundaries of the enclosing multiparts. */
#include "store/mimescan.h"

#include <string.h>
#include <strings.h>

void mimescan_init(struct mimescan *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->in_header = true;
}

/* The boundary parameter of the Content-Type value kept, if any. */
static void mimescan_boundary(struct mimescan *ms)
{
	const char *ct = ms->ct, *end = ms->ct + ms->ct_len, *p;
	char value[MIMESCAN_BOUNDARY_MAX + 1];
	size_t n = 0;

	ms->part_is_message = false;
	while (ct < end && (*ct == ' ' || *ct == '\t'))
		ct++;
	if ((size_t)(end - ct) >= 14 &&
	    (strncasecmp(ct, "message/rfc822", 14) == 0 ||
	     strncasecmp(ct, "message/global", 14) == 0))
		ms->part_is_message = true;
	if ((size_t)(end - ct) < 10 || strncasecmp(ct, "multipart/", 10) != 0)
		return;
	for (p = ct; p + 9 <= end; p++) {
		if (strncasecmp(p, "boundary=", 9) == 0 &&
		    (p == ct || p[-1] == ';' || p[-1] == ' ' ||
		     p[-1] == '\t'))
			break;
	}
	if (p + 9 > end)
		return;
	p += 9;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"' && n < MIMESCAN_BOUNDARY_MAX;
		     p++)
			value[n++] = *p;
	} else {
		for (; p < end && *p != ';' && *p != ' ' && *p != '\t' &&
		       n < MIMESCAN_BOUNDARY_MAX; p++)
			value[n++] = *p;
	}
	if (n == 0 || ms->depth == MIMESCAN_DEPTH_MAX)
		return;
	memcpy(ms->boundary[ms->depth], value, n);
	ms->boundary[ms->depth][n] = '\0';
	ms->depth++;
}

static void mimescan_header_line(struct mimescan *ms, const char *line,
				 size_t len)
{
	bool cont = len > 0 && (line[0] == ' ' || line[0] == '\t');

	if (cont && ms->field_is_ct) {
		size_t n = len < sizeof(ms->ct) - ms->ct_len ?
			   len : sizeof(ms->ct) - ms->ct_len;

		memcpy(ms->ct + ms->ct_len, line, n);
		ms->ct_len += n;
		return;
	}
	if (cont)
		return;
	if (ms->field_is_ct)
		mimescan_boundary(ms);
	ms->field_is_ct = len >= 13 &&
			  strncasecmp(line, "content-type:", 13) == 0;
	if (ms->field_is_ct) {
		ms->ct_len = len - 13;
		memcpy(ms->ct, line + 13, ms->ct_len);
	}
	if (len == 0) {
		/* the end of the header; a message/rfc822 part's body is
		 * a header again */
		ms->in_header = ms->part_is_message;
		ms->part_is_message = false;
	}
}

static void mimescan_body_line(struct mimescan *ms, const char *line,
			       size_t len)
{
	if (len < 3 || line[0] != '-' || line[1] != '-')
		return;
	for (unsigned d = ms->depth; d-- > 0;) {
		size_t blen = strlen(ms->boundary[d]);

		if (len < 2 + blen ||
		    memcmp(line + 2, ms->boundary[d], blen) != 0)
			continue;
		if (len >= 4 + blen && line[2 + blen] == '-' &&
		    line[3 + blen] == '-') {
			ms->depth = d; /* the close: this multipart ends */
			return;
		}
		/* RFC 2046 5.1.1: blanks may follow the boundary */
		for (size_t i = 2 + blen; i < len; i++) {
			if (line[i] != ' ' && line[i] != '\t')
				return;
		}
		ms->depth = d + 1;  /* inner multiparts ended with it */
		ms->in_header = true;
		ms->field_is_ct = false;
		ms->part_is_message = false;
		return;
	}
}

static void mimescan_line_end(struct mimescan *ms)
{
	size_t len = ms->line_len;

	if (len > 0 && ms->line[len - 1] == '\r')
		len--;
	if (ms->in_header)
		mimescan_header_line(ms, ms->line, len);
	else
		mimescan_body_line(ms, ms->line, len);
	ms->line_len = 0;
}

bool mimescan_feed(struct mimescan *ms, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !ms->found; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == '\n') {
			mimescan_line_end(ms);
			continue;
		}
		if (ms->in_header && c >= 0x80) {
			ms->found = true;
			break;
		}
		if (ms->line_len < sizeof(ms->line))
			ms->line[ms->line_len++] = (char)c;
	}
	return ms->found;
}

bool mimescan_needs_utf8(struct mimescan *ms)
{
	return ms->found;
}

int mimescan_message(ssize_t (*read)(void *ctx, char *buf, size_t size),
		     void *ctx)
{
	struct mimescan ms;
	char buf[16384];

	mimescan_init(&ms);
	for (;;) {
		ssize_t got = read(ctx, buf, sizeof(buf));

		if (got < 0)
			return -1;
		if (got == 0)
			return mimescan_needs_utf8(&ms) ? 1 : 0;
		if (mimescan_feed(&ms, buf, (size_t)got))
			return 1;
	}
}
