/* linereader.c: bounded line splitting (see linereader.h). */
#include "net/linereader.h"

#include <stdlib.h>
#include <string.h>

static char *linereader_data(struct linereader *lr)
{
	return lr->big != NULL ? lr->big : lr->buf;
}

void linereader_init(struct linereader *lr, size_t max_line)
{
	lr->big = NULL;
	lr->cap = LINEREADER_BUF;
	lr->start = 0;
	lr->len = 0;
	lr->max_line = max_line < LINEREADER_BUF ? max_line : LINEREADER_BUF;
	lr->discarding = false;
	lr->nul_seen = false;
}

static void linereader_free_big(struct linereader *lr)
{
	explicit_bzero(lr->big, lr->cap + 1);
	free(lr->big);
	lr->big = NULL;
	lr->cap = LINEREADER_BUF;
}

void linereader_deinit(struct linereader *lr)
{
	if (lr->big != NULL)
		linereader_free_big(lr);
	explicit_bzero(lr->buf, sizeof(lr->buf));
}

int linereader_set_limit(struct linereader *lr, size_t max_line)
{
	char *big;

	if (max_line <= LINEREADER_BUF) {
		lr->max_line = max_line;
		return 0;
	}
	if (lr->big == NULL || lr->cap < max_line) {
		big = malloc(max_line + 1);
		if (big == NULL)
			return -1;
		memcpy(big, linereader_data(lr) + lr->start, lr->len);
		if (lr->big != NULL)
			linereader_free_big(lr);
		else
			explicit_bzero(lr->buf, sizeof(lr->buf));
		lr->big = big;
		lr->cap = max_line;
		lr->start = 0;
	}
	lr->max_line = max_line;
	return 0;
}

char *linereader_space(struct linereader *lr, size_t *size_r)
{
	char *data = linereader_data(lr);

	/* back to the inline buffer once the raised limit is over */
	if (lr->big != NULL && lr->max_line <= LINEREADER_BUF &&
	    lr->len <= LINEREADER_BUF) {
		memcpy(lr->buf, data + lr->start, lr->len);
		lr->start = 0;
		linereader_free_big(lr);
		data = lr->buf;
	}
	if (lr->start > 0) {
		memmove(data, data + lr->start, lr->len);
		lr->start = 0;
	}
	*size_r = lr->cap - lr->len;
	return data + lr->len;
}

size_t linereader_room(const struct linereader *lr)
{
	return lr->cap - lr->len;
}

void linereader_added(struct linereader *lr, size_t n)
{
	lr->len += n;
}

bool linereader_has_data(const struct linereader *lr)
{
	return lr->len > 0;
}

void linereader_clear(struct linereader *lr)
{
	lr->start = 0;
	lr->len = 0;
	lr->discarding = false;
}

enum line_status linereader_next(struct linereader *lr, char **line_r,
				 size_t *len_r)
{
	for (;;) {
		char *data = linereader_data(lr) + lr->start;
		char *lf = memchr(data, '\n', lr->len);
		size_t line_len;

		if (lr->discarding) {
			if (lf == NULL) {
				lr->start = 0;
				lr->len = 0;
				return LINE_NONE;
			}
			lr->discarding = false;
			lr->len -= (size_t)(lf + 1 - data);
			lr->start += (size_t)(lf + 1 - data);
			continue;
		}
		if (lf == NULL) {
			/* No LF within max_line octets: it can only be too
			 * long (a CR at the limit may still be followed by
			 * LF, so allow max_line - 1 bytes before deciding). */
			if (lr->len >= lr->max_line) {
				lr->discarding = true;
				lr->start = 0;
				lr->len = 0;
				return LINE_TOO_LONG;
			}
			return LINE_NONE;
		}
		line_len = (size_t)(lf - data) + 1; /* with the LF */
		lr->start += line_len;
		lr->len -= line_len;
		/* Count a bare LF as if it were CRLF, so the limit is the
		 * same whatever the client sends. */
		if (line_len + (line_len >= 2 && lf[-1] == '\r' ? 0 : 1) >
		    lr->max_line)
			return LINE_TOO_LONG;
		line_len--;
		if (line_len > 0 && data[line_len - 1] == '\r')
			line_len--;
		data[line_len] = '\0';
		lr->nul_seen = memchr(data, '\0', line_len) != NULL;
		*line_r = data;
		*len_r = line_len;
		return LINE_OK;
	}
}
