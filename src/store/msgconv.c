/* msgconv.c: stored message -> RETR/TOP octets and LIST sizes (msgconv.h).
 *
 * Every output line is the input line as stored (lone CRs included) plus a
 * CRLF: a LF already preceded by CR is copied, a bare LF gets a CR before
 * it. That single rule needs only one bit of state across chunk splits (was
 * the previous input byte a CR?), so nothing is ever held back. Lines are
 * found with memchr and copied with memcpy, so long lines cost a memcpy. */
#include <string.h>

#include "store/msgconv.h"

static const struct {
	const char *name;
	unsigned bit;
} msgconv_workaround_names[] = {
	{ "outlook-no-nuls", MSGCONV_NO_NULS },
	{ "oe-ns-eoh", MSGCONV_ADD_EOH },
};

int msgconv_workarounds_parse(const char *list, unsigned *mask_r,
			      const char **bad_r)
{
	const char *p = list;
	unsigned mask = 0;

	while (*p != '\0') {
		size_t len, i;

		p += strspn(p, " \t,");
		len = strcspn(p, " \t,");
		if (len == 0)
			break;
		for (i = 0; i < sizeof(msgconv_workaround_names) /
				sizeof(msgconv_workaround_names[0]); i++) {
			const char *name = msgconv_workaround_names[i].name;

			if (strlen(name) == len && memcmp(p, name, len) == 0)
				break;
		}
		if (i < sizeof(msgconv_workaround_names) /
			sizeof(msgconv_workaround_names[0]))
			mask |= msgconv_workaround_names[i].bit;
		else if (!(len == 4 && memcmp(p, "none", 4) == 0)) {
			*bad_r = p;
			return -1;
		}
		p += len;
	}
	*mask_r = mask;
	return 0;
}

void msgconv_init(struct msgconv *conv, bool stuff, int64_t top_lines)
{
	memset(conv, 0, sizeof(*conv));
	conv->stuff = stuff;
	conv->body_lines = top_lines < 0 ? -1 : top_lines;
	conv->line_start = true;
}

/* A LF has just been copied: update the TOP accounting (RFC 1939 7.: the
 * header, the blank line separating it from the body, then n body lines). */
static void msgconv_end_line(struct msgconv *conv)
{
	bool empty = conv->line_len == 0 ||
		     (conv->line_len == 1 && conv->prev_cr);

	conv->line_start = true;
	conv->prev_cr = false;
	conv->line_len = 0;
	/* RETR too: MSGCONV_ADD_EOH must know whether the header ended */
	if (!conv->in_body) {
		if (empty) {
			conv->in_body = true;
			conv->done = conv->body_lines == 0;
		}
		return;
	}
	if (conv->body_lines > 0 && --conv->body_lines == 0)
		conv->done = true;
}

size_t msgconv_feed(struct msgconv *conv, const char *in, size_t in_len,
		    char *out, size_t out_size, size_t *out_len_r)
{
	size_t ip = 0, op = 0;

	while (ip < in_len && !conv->done) {
		const char *lf;
		size_t n;

		if (in[ip] == '\n') {
			if (out_size - op < (conv->prev_cr ? 1u : 2u))
				break;
			if (!conv->prev_cr)
				out[op++] = '\r';
			out[op++] = '\n';
			ip++;
			msgconv_end_line(conv);
			continue;
		}
		if (conv->line_start && conv->stuff && in[ip] == '.') {
			/* RFC 1939 3.: a line starting with "." gets one
			 * more "." in front. */
			if (out_size - op < 2)
				break;
			out[op++] = '.';
			out[op++] = '.';
			ip++;
			conv->line_start = false;
			conv->prev_cr = false;
			conv->line_len = 1;
			continue;
		}
		n = in_len - ip;
		if (n > out_size - op)
			n = out_size - op;
		if (n == 0)
			break;
		lf = memchr(in + ip, '\n', n);
		if (lf != NULL)
			n = (size_t)(lf - (in + ip));
		/* n >= 1: in[ip] is not LF */
		memcpy(out + op, in + ip, n);
		if (conv->workarounds & MSGCONV_NO_NULS) {
			char *nul = out + op, *end = out + op + n;

			while ((nul = memchr(nul, '\0', (size_t)(end - nul))) !=
			       NULL)
				*nul++ = (char)0x80;
		}
		op += n;
		ip += n;
		conv->prev_cr = in[ip - 1] == '\r';
		conv->line_start = false;
		conv->line_len = n >= 2 || conv->line_len + n >= 2 ?
					 2 : (unsigned char)(conv->line_len + n);
	}
	*out_len_r = op;
	return ip;
}

size_t msgconv_finish(struct msgconv *conv, char *out, size_t out_size)
{
	/* line_start also covers the empty message and a finished TOP (it
	 * always stops right after a LF). */
	bool crlf = !conv->line_start;
	bool eoh = (conv->workarounds & MSGCONV_ADD_EOH) && !conv->in_body;
	size_t n = 0;

	if (out_size < (crlf ? 2u : 0u) + (eoh ? 2u : 0u))
		return 0;
	if (crlf) {
		out[n++] = '\r';
		out[n++] = '\n';
		conv->line_start = true;
		conv->prev_cr = false;
		conv->line_len = 0;
	}
	if (eoh) {
		out[n++] = '\r';
		out[n++] = '\n';
		conv->in_body = true;
	}
	return n;
}

int msgconv_header_ends(ssize_t (*read)(void *ctx, char *buf, size_t size),
			void *ctx)
{
	char in[8192], out[8192];
	struct msgconv conv;

	/* the same line rule as RETR: TOP 0 is done at the blank line */
	msgconv_init(&conv, false, 0);
	while (!conv.done) {
		ssize_t got = read(ctx, in, sizeof(in));
		size_t done_in = 0;

		if (got < 0)
			return -1;
		if (got == 0)
			return 0;
		while (done_in < (size_t)got && !conv.done) {
			size_t out_len;

			done_in += msgconv_feed(&conv, in + done_in,
						(size_t)got - done_in, out,
						sizeof(out), &out_len);
		}
	}
	return 1;
}

bool msgconv_is_done(const struct msgconv *conv)
{
	return conv->done;
}

void msgsize_init(struct msgsize *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->line_start = true;
}

void msgsize_feed(struct msgsize *ms, const char *in, size_t len)
{
	const char *p = in, *end = in + len, *lf;

	if (len == 0)
		return;
	ms->octets += len;
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		bool cr = lf > in ? lf[-1] == '\r' : ms->prev_cr;

		if (!cr)
			ms->octets++;
		p = lf + 1;
	}
	ms->prev_cr = end[-1] == '\r';
	ms->line_start = end[-1] == '\n';
}

uint64_t msgsize_finish(struct msgsize *ms)
{
	return ms->line_start ? ms->octets : ms->octets + 2;
}
