/* linereader.c: bounded line splitting (see linereader.h). */
#include "net/linereader.h"

#include <stdlib.h>
#include <string.h>

void linereader_init(struct linereader *lr, size_t max_line)
{
	lr->data = NULL;
	lr->cap = LINEREADER_BUF;
	lr->start = 0;
	lr->len = 0;
	lr->max_line = max_line < LINEREADER_BUF ? max_line : LINEREADER_BUF;
	lr->discarding = false;
	lr->nul_seen = false;
}

/* Wipes and frees the buffer: it may hold a password (PASS, AUTH). */
static void linereader_free_data(struct linereader *lr)
{
	if (lr->data == NULL)
		return;
	explicit_bzero(lr->data, lr->cap + 1);
	free(lr->data);
	lr->data = NULL;
}

void linereader_deinit(struct linereader *lr)
{
	linereader_free_data(lr);
	lr->cap = LINEREADER_BUF;
	lr->start = 0;
	lr->len = 0;
}

/* Moves the unread bytes into a new buffer of cap + 1 octets. */
static int linereader_resize(struct linereader *lr, size_t cap)
{
	char *data = malloc(cap + 1);

	if (data == NULL)
		return -1;
	if (lr->data != NULL && lr->len > 0)
		memcpy(data, lr->data + lr->start, lr->len);
	linereader_free_data(lr);
	lr->data = data;
	lr->cap = cap;
	lr->start = 0;
	return 0;
}

int linereader_set_limit(struct linereader *lr, size_t max_line)
{
	/* The buffer grows at the next linereader_space(), never here:
	 * this is called while a line of the buffer is being handled (AUTH
	 * raises the limit), and the caller still wipes that line after. */
	lr->max_line = max_line;
	return 0;
}

void linereader_release_if_empty(struct linereader *lr)
{
	/* a raised limit keeps its buffer: set_limit promised it */
	if (lr->len == 0 && lr->max_line <= LINEREADER_BUF) {
		linereader_free_data(lr);
		lr->cap = LINEREADER_BUF;
		lr->start = 0;
	}
}

char *linereader_space(struct linereader *lr, size_t *size_r)
{
	/* back to the ordinary size once the raised limit is over */
	if (lr->data != NULL && lr->cap > LINEREADER_BUF &&
	    lr->max_line <= LINEREADER_BUF && lr->len <= LINEREADER_BUF)
		(void)linereader_resize(lr, LINEREADER_BUF);
	/* a raised limit (linereader_set_limit) takes effect here */
	if (lr->max_line > lr->cap && linereader_resize(lr, lr->max_line) < 0) {
		*size_r = 0;
		return NULL;
	}
	if (lr->data == NULL && linereader_resize(lr, lr->cap) < 0) {
		*size_r = 0;
		return NULL;
	}
	if (lr->start > 0) {
		memmove(lr->data, lr->data + lr->start, lr->len);
		lr->start = 0;
	}
	*size_r = lr->cap - lr->len;
	return lr->data + lr->len;
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

const char *linereader_pending(const struct linereader *lr, size_t *len_r)
{
	*len_r = lr->len;
	return lr->len > 0 ? lr->data + lr->start : "";
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
		char *data, *lf;
		size_t line_len;

		if (lr->data == NULL) {
			/* nothing buffered (len is 0): as below */
			if (lr->discarding || lr->max_line > 0)
				return LINE_NONE;
			lr->discarding = true;
			return LINE_TOO_LONG;
		}
		data = lr->data + lr->start;
		lf = memchr(data, '\n', lr->len);
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
