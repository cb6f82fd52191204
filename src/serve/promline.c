/* promline.c: one line of the Prometheus text format (see promline.h). */
#include "serve/promline.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

/* Appends c to out (bounded, printable only). -1 when full. */
static int put(struct promline *out, size_t *n, char c)
{
	if (*n + 1 >= sizeof(out->labels))
		return -1;
	out->labels[(*n)++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
	out->labels[*n] = '\0';
	return 0;
}

/* {name="value",...} from line[*pos] (at '{'); *pos ends after '}'. */
static int parse_labels(const char *line, size_t len, size_t *pos,
			struct promline *out)
{
	size_t i = *pos + 1, n = 0;

	for (;;) {
		if (i < len && line[i] == '}')
			break;
		if (n > 0 && put(out, &n, ' ') < 0)
			return -1;
		if (i >= len || !name_char(line[i], true))
			return -1;
		while (i < len && name_char(line[i], false)) {
			if (put(out, &n, line[i++]) < 0)
				return -1;
		}
		if (i + 1 >= len || line[i] != '=' || line[i + 1] != '"' ||
		    put(out, &n, '=') < 0)
			return -1;
		for (i += 2; i < len && line[i] != '"'; i++) {
			char c = line[i];

			if (c == '\\') {
				if (++i >= len)
					return -1;
				c = line[i] == 'n' ? ' ' : line[i];
			}
			if (put(out, &n, c) < 0)
				return -1;
		}
		if (i >= len)
			return -1;
		i++;
		if (i < len && line[i] == ',')
			i++;
	}
	*pos = i + 1;
	return 0;
}

enum promline_kind promline_parse(const char *line, size_t len,
				  struct promline *out)
{
	char num[64], *end;
	size_t i = 0, n = 0, start;

	memset(out, 0, sizeof(*out));
	if (len == 0 || line[0] == '#')
		return PROMLINE_NONE;
	if (!name_char(line[0], true))
		return PROMLINE_BAD;
	while (i < len && name_char(line[i], false)) {
		if (n + 1 >= sizeof(out->name))
			return PROMLINE_BAD;
		out->name[n++] = line[i++];
	}
	if (i < len && line[i] == '{' &&
	    parse_labels(line, len, &i, out) < 0)
		return PROMLINE_BAD;
	if (i >= len || line[i] != ' ')
		return PROMLINE_BAD;
	start = ++i;
	while (i < len && line[i] != ' ')
		i++;
	if (i == start || i - start >= sizeof(num))
		return PROMLINE_BAD;
	memcpy(num, line + start, i - start);
	num[i - start] = '\0';
	out->value = strtod(num, &end);
	if (*end != '\0' || end == num)
		return PROMLINE_BAD;
	if (isnan(out->value))
		out->value = 0;
	return PROMLINE_SAMPLE;
}
