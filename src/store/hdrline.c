/* hdrline.c: header field values from raw message lines (hdrline.h). */
#include <strings.h>
#include <string.h>

#include "store/hdrline.h"

void hdrline_value(const char *line, size_t len, const char *name,
		   const char **value_r, size_t *value_len_r)
{
	size_t nlen = strlen(name);
	const char *v, *end = line + len;

	if (*value_r != NULL || len <= nlen ||
	    strncasecmp(line, name, nlen) != 0)
		return;
	v = line + nlen;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\n' || end[-1] == '\r' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value_r = v;
	*value_len_r = (size_t)(end - v);
}

int hdrline_find(const char *msg, size_t len, const char *name,
		 const char **value_r, size_t *value_len_r)
{
	const char *p = msg, *end = msg + len;

	*value_r = NULL;
	*value_len_r = 0;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *next = lf != NULL ? lf + 1 : end;
		size_t llen = (size_t)(next - p);

		if (llen == 0 || p[0] == '\n' || (p[0] == '\r' && llen == 2 &&
						   p[1] == '\n'))
			return 0; /* the end of the header */
		hdrline_value(p, llen, name, value_r, value_len_r);
		if (*value_r != NULL) {
			/* a continuation line: RFC 5322 2.2.3 folding */
			if (next < end && (*next == ' ' || *next == '\t'))
				return -1;
			return 1;
		}
		p = next;
	}
	return 0;
}
