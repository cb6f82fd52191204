/* msghdr.c: the streaming header filter of the delivery spool
 * (msghdr.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/msghdr.h"

/* The fields the filter acts on (all others pass). Removed from
 * incoming mail: each one is state a store or a client reads from the
 * message (a forged X-UIDL would be taken for the mbox UIDL,
 * Status/X-Status/X-Keywords/X-IMAP* for flags and IMAP state,
 * Content-Length/Lines for the message's extent by mbox readers, the
 * Mozilla ones for Thunderbird's), plus Return-Path, which the final
 * delivery writes itself (RFC 5321 4.4). Read: the first Message-ID and
 * every Delivered-To. */
static const struct {
	const char *name;
	enum msghdr_disp disp;
} msghdr_fields[] = {
	{ "Return-Path", MSGHDR_DISP_STRIP },
	{ "X-UIDL", MSGHDR_DISP_STRIP },
	{ "X-UID", MSGHDR_DISP_STRIP },
	{ "Status", MSGHDR_DISP_STRIP },
	{ "X-Status", MSGHDR_DISP_STRIP },
	{ "X-Keywords", MSGHDR_DISP_STRIP },
	{ "X-IMAP", MSGHDR_DISP_STRIP },
	{ "X-IMAPbase", MSGHDR_DISP_STRIP },
	{ "Content-Length", MSGHDR_DISP_STRIP },
	{ "Lines", MSGHDR_DISP_STRIP },
	{ "X-Mozilla-Status", MSGHDR_DISP_STRIP },
	{ "X-Mozilla-Status2", MSGHDR_DISP_STRIP },
	{ "X-Mozilla-Keys", MSGHDR_DISP_STRIP },
	{ "Message-ID", MSGHDR_DISP_MSGID },
	{ "Delivered-To", MSGHDR_DISP_DELIVERED_TO },
};
#define MSGHDR_STRIP_PREFIX "X-Satchel-"

static bool msghdr_is_ftext(unsigned char c)
{
	/* RFC 5322 3.6.8: printable US-ASCII except ':' */
	return c >= 33 && c <= 126 && c != ':';
}

static bool msghdr_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static enum msghdr_disp msghdr_name_disp(const struct msghdr *h,
					 const char *name, size_t len)
{
	size_t i, plen = strlen(MSGHDR_STRIP_PREFIX);

	if (len >= plen && strncasecmp(name, MSGHDR_STRIP_PREFIX, plen) == 0)
		return MSGHDR_DISP_STRIP;
	for (i = 0; i < sizeof(msghdr_fields) / sizeof(msghdr_fields[0]); i++) {
		if (strlen(msghdr_fields[i].name) != len ||
		    strncasecmp(msghdr_fields[i].name, name, len) != 0)
			continue;
		/* only the first Message-ID is read; later ones pass */
		if (msghdr_fields[i].disp == MSGHDR_DISP_MSGID &&
		    h->has_message_id)
			return MSGHDR_DISP_PASS;
		return msghdr_fields[i].disp;
	}
	return MSGHDR_DISP_PASS;
}

static bool msghdr_is_received(const char *name, size_t len)
{
	return len == 8 && strncasecmp(name, "Received", 8) == 0;
}

void msghdr_init(struct msghdr *h, msghdr_output_fn *out, void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->out = out;
	h->ctx = ctx;
	h->state = MSGHDR_LINE_START;
	h->first_line = true;
}

void msghdr_deinit(struct msghdr *h)
{
	size_t i;

	for (i = 0; i < h->delivered_to_count; i++)
		free(h->delivered_to[i]);
	free(h->delivered_to);
	h->delivered_to = NULL;
	h->delivered_to_count = 0;
}

static void msghdr_emit(struct msghdr *h, const char *p, size_t n)
{
	if (n > 0)
		h->out(h->ctx, p, n);
}

/* The captured value, unfolded (CR and LF removed, RFC 5322 2.2.3) and
 * trimmed, into out (size > cap_len). Returns its length. */
static size_t msghdr_unfold(const struct msghdr *h, char *out)
{
	size_t i, n = 0, start = 0;

	for (i = 0; i < h->cap_len; i++) {
		if (h->cap[i] != '\r' && h->cap[i] != '\n')
			out[n++] = h->cap[i];
	}
	while (n > 0 && msghdr_is_wsp(out[n - 1]))
		n--;
	while (start < n && msghdr_is_wsp(out[start]))
		start++;
	memmove(out, out + start, n - start);
	out[n - start] = '\0';
	return n - start;
}

/* Keeps the value of the field that just ended. */
static void msghdr_capture_end(struct msghdr *h)
{
	char value[MSGHDR_VALUE_MAX + 1];
	char **list, *copy;

	if (h->disp == MSGHDR_DISP_MSGID) {
		/* too long: kept cut (msghdr.h); a second one right after
		 * the first was classified before this ran: not kept */
		if (!h->has_message_id)
			msghdr_unfold(h, h->message_id);
		h->has_message_id = true;
	} else if (h->disp == MSGHDR_DISP_DELIVERED_TO && !h->cap_overflow) {
		msghdr_unfold(h, value);
		if (h->delivered_to_count >= MSGHDR_DELIVERED_TO_MAX) {
			h->too_many_delivered_to = true;
		} else if ((copy = strdup(value)) == NULL ||
			   (list = realloc(h->delivered_to,
					   (h->delivered_to_count + 1) *
						   sizeof(*list))) == NULL) {
			free(copy);
			h->nomem = true;
		} else {
			h->delivered_to = list;
			list[h->delivered_to_count++] = copy;
			if (!h->seen_received)
				h->delivered_to_top = h->delivered_to_count;
		}
	}
	h->cap_len = 0;
	h->cap_overflow = false;
}

static void msghdr_capture(struct msghdr *h, const char *p, size_t n)
{
	if (h->disp != MSGHDR_DISP_MSGID &&
	    h->disp != MSGHDR_DISP_DELIVERED_TO)
		return;
	if (n > MSGHDR_VALUE_MAX - h->cap_len) {
		n = MSGHDR_VALUE_MAX - h->cap_len;
		h->cap_overflow = true;
	}
	memcpy(h->cap + h->cap_len, p, n);
	h->cap_len += n;
}

/* A new field or the end of the header: what came before is complete. */
static void msghdr_new_field(struct msghdr *h, enum msghdr_disp disp)
{
	msghdr_capture_end(h);
	h->disp = disp;
}

static void msghdr_to_body(struct msghdr *h)
{
	msghdr_new_field(h, MSGHDR_DISP_NONE);
	h->in_body = true;
	h->state = MSGHDR_BODY;
}

enum msghdr_class {
	MSGHDR_MORE, MSGHDR_FROM, MSGHDR_CONT, MSGHDR_END, MSGHDR_NOT_FIELD,
	MSGHDR_FIELD, MSGHDR_LONG,
};

/* What the line starting with pend is, as soon as that can be told. */
static enum msghdr_class msghdr_classify(const struct msghdr *h,
					 size_t *name_len_r)
{
	const char *p = h->pend;
	size_t n = h->pend_len, i, j;

	if (h->first_line) {
		size_t m = n < 5 ? n : 5;

		if (memcmp(p, "From ", m) == 0)
			return n < 5 ? MSGHDR_MORE : MSGHDR_FROM;
	}
	if (msghdr_is_wsp(p[0]))
		return h->disp == MSGHDR_DISP_NONE ? MSGHDR_NOT_FIELD :
						      MSGHDR_CONT;
	if (p[0] == '\n')
		return MSGHDR_END;
	if (p[0] == '\r') {
		if (n == 1)
			return MSGHDR_MORE;
		return p[1] == '\n' ? MSGHDR_END : MSGHDR_NOT_FIELD;
	}
	for (i = 0; i < n && msghdr_is_ftext((unsigned char)p[i]); i++)
		;
	*name_len_r = 0;
	if (i > MSGHDR_NAME_MAX)
		return MSGHDR_LONG;
	if (i == n)
		return MSGHDR_MORE;
	for (j = i; j < n && msghdr_is_wsp(p[j]); j++)
		;
	if (j == n) {
		*name_len_r = i;
		return j - i > MSGHDR_WSP_MAX ? MSGHDR_LONG : MSGHDR_MORE;
	}
	if (p[j] != ':' || i == 0)
		return MSGHDR_NOT_FIELD;
	*name_len_r = i;
	return MSGHDR_FIELD;
}

/* Acts on a classified line start; the pend octets are consumed. */
static void msghdr_decide(struct msghdr *h, enum msghdr_class cls,
			  size_t name_len)
{
	enum msghdr_disp disp;

	switch (cls) {
	case MSGHDR_MORE:
		return;
	case MSGHDR_FROM:
		h->has_from_line = true;
		memcpy(h->from_line, h->pend, h->pend_len);
		h->from_len = h->pend_len;
		h->state = MSGHDR_FROM_LINE;
		break;
	case MSGHDR_CONT:
		if (h->disp == MSGHDR_DISP_STRIP) {
			h->state = MSGHDR_DROP_LINE;
		} else {
			msghdr_emit(h, h->pend, h->pend_len);
			msghdr_capture(h, h->pend, h->pend_len);
			h->state = MSGHDR_PASS_LINE;
		}
		break;
	case MSGHDR_END:
		msghdr_to_body(h);
		msghdr_emit(h, h->pend, h->pend_len);
		break;
	case MSGHDR_NOT_FIELD:
		/* the header ends here; this line is body (RFC 5322 2.1) */
		msghdr_to_body(h);
		msghdr_emit(h, h->pend, h->pend_len);
		break;
	case MSGHDR_LONG:
		if (name_len > 0 && msghdr_name_disp(h, h->pend, name_len) ==
					    MSGHDR_DISP_STRIP) {
			msghdr_new_field(h, MSGHDR_DISP_STRIP);
			h->state = MSGHDR_DROP_LINE;
			break;
		}
		msghdr_new_field(h, MSGHDR_DISP_PASS);
		msghdr_emit(h, h->pend, h->pend_len);
		h->name_wsp = !msghdr_is_ftext(
			(unsigned char)h->pend[h->pend_len - 1]);
		h->state = MSGHDR_NAME_LONG;
		break;
	case MSGHDR_FIELD:
		disp = msghdr_name_disp(h, h->pend, name_len);
		msghdr_new_field(h, disp);
		if (msghdr_is_received(h->pend, name_len))
			h->seen_received = true;
		if (disp == MSGHDR_DISP_STRIP) {
			h->state = MSGHDR_DROP_LINE;
		} else {
			msghdr_emit(h, h->pend, h->pend_len);
			h->state = MSGHDR_PASS_LINE;
		}
		break;
	}
	h->first_line = false;
	h->pend_len = 0;
}

static void msghdr_note_eol(struct msghdr *h, const char *line_end,
			    const char *chunk, bool prev_cr)
{
	bool cr = line_end > chunk ? line_end[-1] == '\r' : prev_cr;

	if (h->state == MSGHDR_FROM_LINE) {
		h->from_eol_crlf = cr;
	} else if (!h->eol_known) {
		h->eol_known = true;
		h->crlf = cr;
	}
}

void msghdr_feed(struct msghdr *h, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *lf;
	size_t name_len = 0, n;
	enum msghdr_class cls;
	/* the octet before data, for CRLF detection across chunks */
	bool prev_cr = h->last_cr;

	if (len == 0)
		return;
	h->last_cr = data[len - 1] == '\r';
	if (memchr(data, '\0', len) != NULL)
		h->has_nul = true;
	while (p < end) {
		switch (h->state) {
		case MSGHDR_BODY:
			if (!h->eol_known &&
			    (lf = memchr(p, '\n', (size_t)(end - p))) != NULL)
				msghdr_note_eol(h, lf, data, prev_cr);
			msghdr_emit(h, p, (size_t)(end - p));
			return;
		case MSGHDR_LINE_START:
		case MSGHDR_PEND:
			h->state = MSGHDR_PEND;
			h->pend[h->pend_len++] = *p;
			if (*p == '\n')
				msghdr_note_eol(h, p, data, prev_cr);
			p++;
			cls = msghdr_classify(h, &name_len);
			msghdr_decide(h, cls, name_len);
			/* a decided line that already ended */
			if (p[-1] == '\n' && h->state != MSGHDR_BODY)
				h->state = MSGHDR_LINE_START;
			break;
		case MSGHDR_NAME_LONG:
			if (*p == ':') {
				h->state = MSGHDR_PASS_LINE;
			} else if (msghdr_is_wsp(*p)) {
				h->name_wsp = true;
			} else if (h->name_wsp ||
				   !msghdr_is_ftext((unsigned char)*p)) {
				msghdr_to_body(h);
				break;
			}
			msghdr_emit(h, p, 1);
			p++;
			break;
		case MSGHDR_PASS_LINE:
		case MSGHDR_DROP_LINE:
		case MSGHDR_FROM_LINE:
			lf = memchr(p, '\n', (size_t)(end - p));
			n = (size_t)((lf != NULL ? lf + 1 : end) - p);
			if (h->state == MSGHDR_PASS_LINE) {
				msghdr_emit(h, p, n);
				msghdr_capture(h, p, n);
			} else if (h->state == MSGHDR_FROM_LINE) {
				size_t room = MSGHDR_FROM_LINE_MAX -
					      h->from_len;

				if (n > room)
					h->from_overflow = true;
				memcpy(h->from_line + h->from_len, p,
				       n < room ? n : room);
				h->from_len += n < room ? n : room;
			}
			if (lf != NULL) {
				msghdr_note_eol(h, lf, data, prev_cr);
				h->state = MSGHDR_LINE_START;
			}
			p += n;
			break;
		}
	}
}

void msghdr_finish(struct msghdr *h)
{
	size_t name_len = 0;
	enum msghdr_class cls;

	if (h->state == MSGHDR_PEND) {
		/* the message ended inside a line start: decide with what
		 * there is (a name without colon is no field) */
		cls = msghdr_classify(h, &name_len);
		if (cls == MSGHDR_MORE)
			cls = MSGHDR_NOT_FIELD;
		msghdr_decide(h, cls, name_len);
	}
	msghdr_new_field(h, MSGHDR_DISP_NONE);
	if (!h->eol_known) {
		h->eol_known = true;
		h->crlf = h->from_eol_crlf;
	}
}

const char *msghdr_from_sender(struct msghdr *h)
{
	char *p, *q;

	if (!h->has_from_line || h->from_overflow)
		return NULL;
	h->from_line[h->from_len] = '\0';
	/* "From sender date": the first word; "From  date" has none */
	p = h->from_line + 5;
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\0')
		return "";
	q = p + strcspn(p, " \t\r\n");
	*q = '\0';
	if (strcmp(p, "<>") == 0)
		return "";
	if (q - p >= 2 && p[0] == '<' && q[-1] == '>') {
		q[-1] = '\0';
		p++;
	}
	return p;
}

static bool msghdr_match(const struct msghdr *h, size_t from, size_t to,
			 const char *addr)
{
	size_t alen = strlen(addr), i;

	for (i = from; i < to; i++) {
		const char *v = h->delivered_to[i];
		size_t vlen = strlen(v);

		if (vlen >= 2 && v[0] == '<' && v[vlen - 1] == '>') {
			v++;
			vlen -= 2;
		}
		if (vlen == alen && strncasecmp(v, addr, alen) == 0)
			return true;
	}
	return false;
}

bool msghdr_has_delivered_to(const struct msghdr *h, const char *addr)
{
	return msghdr_match(h, h->delivered_to_top, h->delivered_to_count,
			    addr);
}

bool msghdr_has_top_delivered_to(const struct msghdr *h, const char *addr)
{
	return msghdr_match(h, 0, h->delivered_to_top, addr);
}
