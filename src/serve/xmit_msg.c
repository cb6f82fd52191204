/* xmit_msg.c: the header reading of XTND XMIT (xmit_msg.h): address
 * lists, the From: check's input, Bcc: removal, SMTP reply lines. */
#include "serve/xmit_msg.h"

#include <string.h>
#include <strings.h>

/* The state of one address-list scan: text of the mailbox being read
 * (outside <>) and of its angle address. */
struct addr_scan {
	char text[XMIT_ADDR_MAX + 1], angle[XMIT_ADDR_MAX + 1];
	size_t text_len, angle_len;
	bool in_angle, have_angle;
};

static int addr_put(struct addr_scan *a, char c, const char **error_r)
{
	char *buf = a->in_angle ? a->angle : a->text;
	size_t *len = a->in_angle ? &a->angle_len : &a->text_len;

	if (*len >= XMIT_ADDR_MAX) {
		*error_r = "-ERR address too long";
		return -1;
	}
	buf[(*len)++] = c;
	return 0;
}

bool xmit_addr_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* local@domain, printable ASCII (a blank only inside a quoted local
 * part), the domain not empty. */
static bool addr_valid(const char *addr, size_t len)
{
	const char *at = memrchr(addr, '@', len);
	bool quoted = false;

	if (at == NULL || at == addr || at == addr + len - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c == '"' && (i == 0 || addr[i - 1] != '\\'))
			quoted = !quoted;
		if ((c < 0x21 && !(c == ' ' && quoted)) || c > 0x7e ||
		    c == '<' || c == '>')
			return false;
	}
	return !quoted;
}

bool xmit_addr_valid(const char *addr)
{
	size_t len = strlen(addr);

	return len <= XMIT_ADDR_MAX && addr_valid(addr, len);
}

/* The mailbox read so far is complete (',' ';' or the end). */
static int addr_finish(struct addr_scan *a, struct xmit_addrs *list,
		       const char **error_r)
{
	const char *addr = a->have_angle ? a->angle : a->text;
	size_t len = a->have_angle ? a->angle_len : a->text_len;
	char copy[XMIT_ADDR_MAX + 1];

	memcpy(copy, addr, len);
	copy[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (len == 0)
		return 0; /* an empty group, a trailing comma */
	if (!addr_valid(copy, len)) {
		*error_r = "-ERR invalid address in the header";
		return -1;
	}
	for (unsigned i = 0; i < list->count; i++) {
		if (xmit_addr_equal(list->addr[i], copy))
			return 0;
	}
	if (list->count == XMIT_RCPT_MAX) {
		*error_r = "-ERR too many addresses";
		return -1;
	}
	memcpy(list->addr[list->count++], copy, len + 1);
	return 0;
}

int xmit_addr_list(const char *value, size_t len, struct xmit_addrs *list,
		   const char **error_r)
{
	struct addr_scan a;
	unsigned comment = 0;
	bool quoted = false;

	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < len; i++) {
		char c = value[i];

		if (c == '\0') {
			*error_r = "-ERR NUL in the header";
			return -1;
		}
		if (quoted || comment > 0) {
			bool escaped = c == '\\' && i + 1 < len;

			if (escaped)
				c = value[++i];
			if (comment > 0) {
				/* RFC 5322 3.2.2: comments nest */
				if (!escaped && c == '(')
					comment++;
				else if (!escaped && c == ')')
					comment--;
				continue;
			}
			if (!escaped && c == '"')
				quoted = false;
			else if (escaped && addr_put(&a, '\\', error_r) < 0)
				return -1;
			if (addr_put(&a, c, error_r) < 0)
				return -1;
			continue;
		}
		switch (c) {
		case ' ': case '\t': case '\r': case '\n':
			break;
		case '(':
			comment = 1;
			break;
		case '"':
			quoted = true;
			if (addr_put(&a, c, error_r) < 0)
				return -1;
			break;
		case '<':
			if (a.in_angle) {
				*error_r = "-ERR malformed address list";
				return -1;
			}
			a.in_angle = true;
			a.angle_len = 0;
			break;
		case '>':
			if (!a.in_angle) {
				*error_r = "-ERR malformed address list";
				return -1;
			}
			a.in_angle = false;
			a.have_angle = true;
			break;
		case ':':
			/* a group's display name, or an obsolete route
			 * (<@a,@b:user@host>): neither is an address */
			if (a.in_angle)
				a.angle_len = 0;
			else
				a.text_len = 0;
			break;
		case ',':
		case ';':
			if (a.in_angle) {
				if (c == ';') {
					*error_r = "-ERR malformed address "
						   "list";
					return -1;
				}
				break; /* the route's list */
			}
			if (addr_finish(&a, list, error_r) < 0)
				return -1;
			break;
		default:
			if (addr_put(&a, c, error_r) < 0)
				return -1;
		}
	}
	if (quoted || comment > 0 || a.in_angle) {
		*error_r = "-ERR malformed address list";
		return -1;
	}
	return addr_finish(&a, list, error_r);
}

enum field_kind { FIELD_OTHER, FIELD_FROM, FIELD_RCPT, FIELD_BCC };

static const struct {
	const char *name;
	enum field_kind kind;
} xmit_fields[] = {
	{ "From", FIELD_FROM },
	{ "Sender", FIELD_FROM },
	{ "To", FIELD_RCPT },
	{ "Cc", FIELD_RCPT },
	{ "Bcc", FIELD_BCC },
};

static enum field_kind field_kind(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(xmit_fields) / sizeof(xmit_fields[0]);
	     i++) {
		if (strlen(xmit_fields[i].name) == len &&
		    strncasecmp(xmit_fields[i].name, name, len) == 0)
			return xmit_fields[i].kind;
	}
	return FIELD_OTHER;
}

/* The end of the line at p (past its LF, or end). */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	return lf != NULL ? lf + 1 : end;
}

static bool line_is_empty(const char *p, const char *next)
{
	size_t n = (size_t)(next - p);

	return n == 0 || (n == 1 && p[0] == '\n') ||
	       (n == 2 && p[0] == '\r' && p[1] == '\n');
}

int xmit_msg_parse(const char *msg, size_t len, struct xmit_addrs *from,
		   struct xmit_addrs *rcpts, char *out, size_t *out_len_r,
		   const char **error_r)
{
	const char *p = msg, *end = msg + len;
	size_t out_len = 0;

	from->count = rcpts->count = 0;
	while (p < end) {
		const char *next = line_end(p, end), *colon, *value;
		enum field_kind kind;
		size_t name_len;

		if (line_is_empty(p, next))
			break;
		/* RFC 5322 2.2: field-name is printable ASCII but ':' */
		colon = memchr(p, ':', (size_t)(next - p));
		name_len = colon != NULL ? (size_t)(colon - p) : 0;
		for (size_t i = 0; i < name_len; i++) {
			if ((unsigned char)p[i] < 0x21 ||
			    (unsigned char)p[i] > 0x7e)
				name_len = 0;
		}
		if (name_len == 0) {
			*error_r = "-ERR malformed header line";
			return -1;
		}
		kind = field_kind(p, name_len);
		value = colon + 1;
		/* the value goes on over the continuation lines */
		while (next < end && (*next == ' ' || *next == '\t'))
			next = line_end(next, end);
		if ((kind == FIELD_FROM &&
		     xmit_addr_list(value, (size_t)(next - value), from,
				    error_r) < 0) ||
		    ((kind == FIELD_RCPT || kind == FIELD_BCC) &&
		     xmit_addr_list(value, (size_t)(next - value), rcpts,
				    error_r) < 0))
			return -1;
		if (kind != FIELD_BCC) {
			memcpy(out + out_len, p, (size_t)(next - p));
			out_len += (size_t)(next - p);
		}
		p = next;
	}
	memcpy(out + out_len, p, (size_t)(end - p));
	*out_len_r = out_len + (size_t)(end - p);
	return 0;
}

int xmit_smtp_reply_line(const char *line, size_t len, unsigned *code_r,
			 bool *more_r)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
		return -1;
	if (len > 3 && line[3] != '-' && line[3] != ' ')
		return -1;
	*code_r = (unsigned)(line[0] - '0') * 100 +
		  (unsigned)(line[1] - '0') * 10 + (unsigned)(line[2] - '0');
	*more_r = len > 3 && line[3] == '-';
	return 0;
}
