/* fetch_header.c: header fields for the fetch client (fetch_header.h). */
#include <string.h>
#include <strings.h>

#include "fetch/fetch_header.h"

struct fetch_header_value {
	char *out;
	size_t size, len;
	bool space;        /* white space seen since the last octet kept */
};

static void fetch_header_put(struct fetch_header_value *v, const char *p,
			     const char *end)
{
	for (; p < end; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r') {
			v->space = v->len > 0;
			continue;
		}
		if (v->space && v->len + 1 < v->size)
			v->out[v->len++] = ' ';
		v->space = false;
		if (v->len + 1 < v->size)
			v->out[v->len++] = *p;
	}
}

/* Is [p, eol) empty but for CRs: the end of the header? */
static bool fetch_header_blank(const char *p, const char *eol)
{
	for (; p < eol; p++) {
		if (*p != '\r')
			return false;
	}
	return true;
}

bool fetch_header_get(const char *msg, size_t len, const char *name,
		      char *out, size_t size)
{
	struct fetch_header_value v = { out, size, 0, false };
	const char *p = msg, *end = msg + len;
	size_t name_len = strlen(name);
	bool in_field = false, found = false;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *eol = lf != NULL ? lf : end;
		bool folded = *p == ' ' || *p == '\t';

		if (fetch_header_blank(p, eol))
			break;
		if (!folded) {
			if (found)
				break; /* the first of the name only */
			in_field = (size_t)(eol - p) > name_len &&
				   p[name_len] == ':' &&
				   strncasecmp(p, name, name_len) == 0;
			if (in_field) {
				found = true;
				fetch_header_put(&v, p + name_len + 1, eol);
			}
		} else if (in_field) {
			v.space = v.len > 0; /* the fold is a space */
			fetch_header_put(&v, p, eol);
		}
		p = lf != NULL ? lf + 1 : end;
	}
	out[v.len] = '\0';
	return found;
}
