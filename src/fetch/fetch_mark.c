/* fetch_mark.c: NAME.mark, the no-news shortcut (fetch_mark.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fetch/fetch_mark.h"
#include "store/uidl.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/strnum.h"

int fetch_mark_format(const struct fetch_mark *m, char *out, size_t size)
{
	int n = snprintf(out, size, "v1 %llu %llu %lld %lld %llu %s %s\n",
			 (unsigned long long)m->count,
			 (unsigned long long)m->octets,
			 (long long)m->listed_at, (long long)m->due,
			 (unsigned long long)m->ident, m->first, m->last);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The next space-separated field of [*p, end) into out (NUL-ended).
 * 0, or -1 when there is none or it does not fit. */
static int fetch_mark_field(const char **p, const char *end, char *out,
			    size_t size)
{
	const char *start = *p, *sp;
	size_t len;

	if (start >= end)
		return -1;
	sp = memchr(start, ' ', (size_t)(end - start));
	len = (size_t)((sp != NULL ? sp : end) - start);
	if (len == 0 || len >= size)
		return -1;
	memcpy(out, start, len);
	out[len] = '\0';
	*p = sp != NULL ? sp + 1 : end;
	return 0;
}

static int fetch_mark_number(const char **p, const char *end, uint64_t max,
			     uint64_t *out)
{
	char digits[24];

	if (fetch_mark_field(p, end, digits, sizeof(digits)) < 0)
		return -1;
	return strnum_parse_u64(digits, max, out);
}

int fetch_mark_parse(const char *text, size_t len, struct fetch_mark *m)
{
	const char *p = text, *end = text + len;
	uint64_t listed, due;
	char version[4];

	if (len > 0 && text[len - 1] == '\n')
		end--;
	memset(m, 0, sizeof(*m));
	if (fetch_mark_field(&p, end, version, sizeof(version)) < 0 ||
	    strcmp(version, "v1") != 0 ||
	    fetch_mark_number(&p, end, UINT32_MAX, &m->count) < 0 ||
	    m->count == 0 ||
	    fetch_mark_number(&p, end, UINT64_MAX, &m->octets) < 0 ||
	    fetch_mark_number(&p, end, INT64_MAX, &listed) < 0 ||
	    fetch_mark_number(&p, end, INT64_MAX, &due) < 0 ||
	    fetch_mark_number(&p, end, UINT64_MAX, &m->ident) < 0 ||
	    fetch_mark_field(&p, end, m->first, sizeof(m->first)) < 0 ||
	    fetch_mark_field(&p, end, m->last, sizeof(m->last)) < 0 ||
	    p != end || !uidl_is_valid(m->first, strlen(m->first)) ||
	    !uidl_is_valid(m->last, strlen(m->last)))
		return -1;
	m->listed_at = (time_t)listed;
	m->due = (time_t)due;
	return 0;
}

int fetch_mark_read(const char *path, struct fetch_mark *m)
{
	char text[FETCH_MARK_TEXT_MAX + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0 || (size_t)n > FETCH_MARK_TEXT_MAX)
		return -1;
	return fetch_mark_parse(text, (size_t)n, m);
}

int fetch_mark_write(const char *path, const struct fetch_mark *m)
{
	char text[FETCH_MARK_TEXT_MAX + 1];
	const char *why;
	int n = fetch_mark_format(m, text, sizeof(text));

	if (n < 0)
		return -1;
	return fileio_replace(path, text, (size_t)n, 0600, &why);
}

void fetch_mark_remove(const char *path)
{
	/* an empty mark parses as none; should that fail too, the mark's
	 * ident no longer matches a later listing and is not used */
	if (unlink(path) < 0 && errno != ENOENT && truncate(path, 0) < 0)
		log_warn("%s: cannot remove or empty: %s", path,
			 strerror(errno));
}

bool fetch_mark_usable(const struct fetch_mark *m, uint64_t ident,
		       time_t now)
{
	return m->ident == ident && now >= m->listed_at &&
	       now - m->listed_at < FETCH_MARK_MAX_AGE &&
	       (m->due == 0 || now < m->due);
}
