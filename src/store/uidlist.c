/* uidlist.c: Dovecot's dovecot-uidlist parser and pop3_uidl_format
 * expansion (uidlist.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/uidlist.h"
#include "util/strnum.h"

/* One UID or UIDVALIDITY: 1..2^32-1 (0 is never a valid IMAP UID). */
static int uidlist_u32(const char *text, uint32_t *value_r)
{
	uint64_t v;

	if (strnum_parse_u64(text, UINT32_MAX, &v) < 0 || v == 0)
		return -1;
	*value_r = (uint32_t)v;
	return 0;
}

/* The header "3 V... N... G...": fields in any order, unknown ones
 * skipped (a newer Dovecot may add some). line is NUL-terminated. */
static int uidlist_parse_header(struct uidlist *list, char *line,
				const char **error_r)
{
	bool have_v = false;
	char *field, *save = NULL;

	if (line[0] != '3' || (line[1] != ' ' && line[1] != '\0')) {
		*error_r = line[0] == '1' || line[0] == '2' ?
			"an old (version 1 or 2) dovecot-uidlist: not "
			"supported" :
			"not a dovecot-uidlist (no version 3 header)";
		return -1;
	}
	for (field = strtok_r(line + 1, " ", &save); field != NULL;
	     field = strtok_r(NULL, " ", &save)) {
		uint32_t v;

		if (field[0] != 'V' && field[0] != 'N')
			continue;
		if (uidlist_u32(field + 1, &v) < 0) {
			*error_r = "bad V or N field in the header";
			return -1;
		}
		if (field[0] == 'V') {
			list->uidvalidity = v;
			have_v = true;
		} else {
			list->next_uid = v;
		}
	}
	if (!have_v) {
		*error_r = "no UIDVALIDITY (V) in the header";
		return -1;
	}
	return 0;
}

/* "uid *(SP ext) SP :filename". line is NUL-terminated and is cut up
 * in place. */
static int uidlist_parse_record(struct uidlist_entry *e, char *line,
				const char **error_r)
{
	char *p = strchr(line, ' '), *colon;

	if (p == NULL) {
		*error_r = "a record without a file name";
		return -1;
	}
	*p++ = '\0';
	if (uidlist_u32(line, &e->uid) < 0) {
		*error_r = "a bad UID";
		return -1;
	}
	/* extensions until the token that starts with ':' */
	while (*p != ':') {
		char *end = strchr(p, ' ');

		if (end == NULL || end == p || p[0] < 'A' || p[0] > 'Z') {
			*error_r = "a bad extension or no ':' before the name";
			return -1;
		}
		*end = '\0';
		if (p[0] == 'G' && p[1] != '\0')
			e->guid = p + 1;
		else if (p[0] == 'P' && p[1] != '\0')
			e->pop3_uidl = p + 1;
		p = end + 1;
	}
	p++;
	/* the base name: Dovecot may keep the ":2,flags" of the name */
	colon = strchr(p, ':');
	if (colon != NULL)
		*colon = '\0';
	if (*p == '\0' || strchr(p, '/') != NULL) {
		*error_r = "an empty or unsafe file name";
		return -1;
	}
	e->base = p;
	return 0;
}

int uidlist_parse(const char *data, size_t len, struct uidlist **list_r,
		  const char **error_r, size_t *line_r)
{
	struct uidlist *list;
	size_t i, lines = 0, line_no = 0;
	char *p, *end;

	*list_r = NULL;
	*line_r = 0;
	if (len > UIDLIST_FILE_MAX) {
		*error_r = "too big for a dovecot-uidlist";
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		*error_r = "a NUL byte: not a dovecot-uidlist";
		return -1;
	}
	for (i = 0; i < len; i++)
		lines += data[i] == '\n';
	list = calloc(1, sizeof(*list));
	if (list == NULL)
		goto out_nomem;
	list->buf = malloc(len + 1);
	/* one entry per line at most (the header is one too) */
	list->entries = calloc(lines + 1, sizeof(*list->entries));
	if (list->buf == NULL || list->entries == NULL)
		goto out_nomem;
	memcpy(list->buf, data, len);
	list->buf[len] = '\0';
	for (p = list->buf; *p != '\0'; p = end) {
		struct uidlist_entry *e;

		end = strchr(p, '\n');
		if (end == NULL) {
			/* Dovecot writes whole lines: a torn last one means a
			 * file caught mid-write or damaged */
			*error_r = "the last line has no newline";
			*line_r = line_no + 1;
			goto out_fail;
		}
		*end++ = '\0';
		line_no++;
		if (line_no == 1) {
			if (uidlist_parse_header(list, p, error_r) < 0)
				goto out_line;
			continue;
		}
		e = &list->entries[list->count];
		if (uidlist_parse_record(e, p, error_r) < 0)
			goto out_line;
		if (list->count > 0 && e->uid <= e[-1].uid) {
			*error_r = "UIDs not in ascending order";
			goto out_line;
		}
		list->count++;
	}
	if (line_no == 0) {
		*error_r = "an empty file: not a dovecot-uidlist";
		goto out_fail;
	}
	*list_r = list;
	return 0;
out_line:
	*line_r = line_no;
	goto out_fail;
out_nomem:
	*error_r = "out of memory";
out_fail:
	uidlist_free(&list);
	return -1;
}

void uidlist_free(struct uidlist **listp)
{
	struct uidlist *list = *listp;

	if (list == NULL)
		return;
	*listp = NULL;
	free(list->entries);
	free(list->buf);
	free(list);
}

/* Appends len octets of s at out[*pos], keeping room for the NUL. */
static int uidlist_put(char *out, size_t out_size, size_t *pos,
		       const char *s, size_t len)
{
	if (out == NULL) /* only checking the template */
		return 0;
	if (len >= out_size - *pos)
		return -1;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return 0;
}

/* v in decimal or hex, zero-padded to width (<= 10), into num (16
 * octets). Returns the length. */
static int uidlist_number(uint32_t v, bool hex, unsigned width, char *num)
{
	static const char digits[] = "0123456789abcdef";
	unsigned base = hex ? 16 : 10, len = 0, i;
	char rev[16];

	do {
		rev[len++] = digits[v % base];
		v /= base;
	} while (v != 0);
	while (len < width)
		rev[len++] = '0';
	for (i = 0; i < len; i++)
		num[i] = rev[len - 1 - i];
	num[len] = '\0';
	return (int)len;
}

/* The U and L modifiers on the len octets at s. */
static void uidlist_case(char *s, size_t len, bool upper, bool lower)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (upper && s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (lower && s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	}
}

/* Expands tmpl into out (out NULL: only checks it, e may be NULL). */
static int uidlist_expand(const char *tmpl, const struct uidlist *list,
			  const struct uidlist_entry *e, char *out,
			  size_t out_size, const char **error_r)
{
	size_t pos = 0;
	const char *p;

	if (out != NULL)
		out[0] = '\0';
	for (p = tmpl; *p != '\0'; p++) {
		char num[16];
		const char *text;
		unsigned width = 0;
		bool hex = false, upper = false, lower = false, zero = false;
		size_t start = pos;
		int n;

		if (*p != '%') {
			if (uidlist_put(out, out_size, &pos, p, 1) < 0)
				goto out_long;
			continue;
		}
		p++;
		if (*p == '%') {
			if (uidlist_put(out, out_size, &pos, "%", 1) < 0)
				goto out_long;
			continue;
		}
		/* Dovecot's var_expand: [0][width][x|X]letter */
		if (*p == '0') {
			zero = true;
			p++;
		}
		while (*p >= '0' && *p <= '9' && width < 100)
			width = width * 10 + (unsigned)(*p++ - '0');
		/* without the 0, Dovecot's width truncates the value: a
		 * UIDL list nobody would have chosen, not guessed at here */
		if (width > 10 || (width > 0 && !zero)) {
			*error_r = "a width other than 0-padded 1-10 is not "
				   "supported";
			return -1;
		}
		/* modifiers: X prints the number in hex (lower case, as
		 * Dovecot's var_expand does), U and L change the case */
		for (; *p == 'X' || *p == 'U' || *p == 'L'; p++) {
			if (*p == 'X')
				hex = true;
			else {
				/* the last case modifier wins */
				upper = *p == 'U';
				lower = *p == 'L';
			}
		}
		if (*p == 'u' || *p == 'v') {
			if (out != NULL) {
				uint32_t v = *p == 'u' ? e->uid :
							 list->uidvalidity;

				n = uidlist_number(v, hex, width, num);
				if (uidlist_put(out, out_size, &pos, num,
						(size_t)n) < 0)
					goto out_long;
				uidlist_case(out + start, pos - start, upper,
					     lower);
			}
			continue;
		}
		if ((*p == 'f' || *p == 'g') && width == 0 && !hex) {
			if (out != NULL) {
				text = *p == 'g' && e->guid != NULL ? e->guid :
								      e->base;
				if (uidlist_put(out, out_size, &pos, text,
						strlen(text)) < 0)
					goto out_long;
				uidlist_case(out + start, pos - start, upper,
					     lower);
			}
			continue;
		}
		*error_r = *p == 'm' ?
			"%m (the MD5 of the headers) is not supported: Dovecot "
			"offers it for mbox only" :
			"unsupported pop3_uidl_format variable (supported: %u "
			"%v with [0width][X][U|L], %f %g with [U|L], %%)";
		return -1;
	}
	return 0;
out_long:
	*error_r = "the UIDL does not fit";
	return -1;
}

int uidlist_format_check(const char *tmpl, const char **error_r)
{
	if (tmpl[0] == '\0') {
		*error_r = "an empty pop3_uidl_format";
		return -1;
	}
	return uidlist_expand(tmpl, NULL, NULL, NULL, 0, error_r);
}

int uidlist_uidl(const char *tmpl, const struct uidlist *list,
		 const struct uidlist_entry *e, char *out, size_t out_size,
		 const char **error_r)
{
	if (out_size == 0) {
		*error_r = "the UIDL does not fit";
		return -1;
	}
	if (e->pop3_uidl != NULL) {
		size_t pos = 0;

		out[0] = '\0';
		if (uidlist_put(out, out_size, &pos, e->pop3_uidl,
				strlen(e->pop3_uidl)) < 0) {
			*error_r = "the UIDL does not fit";
			return -1;
		}
		return 0;
	}
	return uidlist_expand(tmpl, list, e, out, out_size, error_r);
}
