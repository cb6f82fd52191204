/* envelope.c: the envelope a delivery recorded (envelope.h). */
#include "store/envelope.h"

#include <string.h>

#include "store/hdrline.h"

enum envelope_field { FIELD_OTHER, FIELD_RETURN_PATH, FIELD_ORIGINAL_TO,
		      FIELD_DELIVERED_TO };

static const struct {
	const char *name;
	enum envelope_field field;
} envelope_fields[] = {
	{ "Return-Path:", FIELD_RETURN_PATH },
	{ "X-Original-To:", FIELD_ORIGINAL_TO },
	{ "Delivered-To:", FIELD_DELIVERED_TO },
};

bool envelope_addr_valid(const char *addr)
{
	size_t len = strlen(addr);

	if (len == 0 || len > ENVELOPE_ADDR_MAX)
		return false;
	for (; *addr != '\0'; addr++) {
		unsigned char c = (unsigned char)*addr;

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

/* The value (v, len octets) as an address into out: one pair of angle
 * brackets around it is taken off. Returns whether it is usable; an
 * empty one only where empty_ok (Return-Path: <>). */
static bool envelope_take(const char *v, size_t len, bool empty_ok,
			  char out[ENVELOPE_ADDR_MAX + 1])
{
	if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		v++;
		len -= 2;
	}
	if (len > ENVELOPE_ADDR_MAX || memchr(v, '\0', len) != NULL)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return (len == 0 && empty_ok) || envelope_addr_valid(out);
}

/* Which delivery field the line is, with its value. */
static enum envelope_field envelope_field_of(const char *line, size_t len,
					     const char **v_r, size_t *vlen_r)
{
	size_t i;

	for (i = 0; i < sizeof(envelope_fields) / sizeof(envelope_fields[0]);
	     i++) {
		*v_r = NULL;
		hdrline_value(line, len, envelope_fields[i].name, v_r, vlen_r);
		if (*v_r != NULL)
			return envelope_fields[i].field;
	}
	return FIELD_OTHER;
}

void envelope_parse(const char *msg, size_t len, struct envelope *env_r)
{
	const char *p = msg, *end = msg + len;
	char orig[ENVELOPE_ADDR_MAX + 1], delivered[ENVELOPE_ADDR_MAX + 1];
	bool have_orig = false, have_delivered = false, seen_sender = false;
	bool seen_orig = false, seen_delivered = false;

	memset(env_r, 0, sizeof(*env_r));
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *next, *v;
		enum envelope_field f;
		size_t vlen;
		bool folded;

		if (lf == NULL)
			break; /* a line that may be cut */
		next = lf + 1;
		f = envelope_field_of(p, (size_t)(next - p), &v, &vlen);
		if (f == FIELD_OTHER)
			break; /* the end of the block */
		/* RFC 5322 2.2.3: a folded value is no single address; its
		 * continuation lines still belong to the field */
		folded = next < end && (*next == ' ' || *next == '\t');
		if (f == FIELD_RETURN_PATH && !seen_sender) {
			seen_sender = true;
			env_r->have_sender = !folded &&
				envelope_take(v, vlen, true, env_r->sender);
		} else if (f == FIELD_ORIGINAL_TO && !seen_orig) {
			seen_orig = true;
			have_orig = !folded &&
				    envelope_take(v, vlen, false, orig);
		} else if (f == FIELD_DELIVERED_TO && !seen_delivered) {
			seen_delivered = true;
			have_delivered = !folded &&
					 envelope_take(v, vlen, false,
						       delivered);
		}
		p = next;
		while (p < end && (*p == ' ' || *p == '\t')) {
			lf = memchr(p, '\n', (size_t)(end - p));
			p = lf != NULL ? lf + 1 : end;
		}
	}
	if (!env_r->have_sender)
		env_r->sender[0] = '\0';
	if (have_orig || have_delivered) {
		const char *r = have_orig ? orig : delivered;

		memcpy(env_r->rcpt, r, strlen(r) + 1);
		env_r->have_rcpt = true;
	}
}
