/* outbuf.c: growable output buffer (see outbuf.h). */
#include "net/outbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *outbuf_reserve(struct outbuf *ob, size_t min, size_t *size_r)
{
	if (ob->start > 0 && ob->cap - ob->start - ob->len < min) {
		memmove(ob->data, ob->data + ob->start, ob->len);
		ob->start = 0;
	}
	if (ob->cap - ob->start - ob->len < min) {
		size_t cap = ob->cap == 0 ? 4096 : ob->cap;
		char *data;

		while (cap - ob->len < min) {
			if (cap > ((size_t)-1) / 2)
				return NULL;
			cap *= 2;
		}
		data = realloc(ob->data, cap);
		if (data == NULL)
			return NULL;
		ob->data = data;
		ob->cap = cap;
	}
	*size_r = ob->cap - ob->start - ob->len;
	return ob->data + ob->start + ob->len;
}

void outbuf_commit(struct outbuf *ob, size_t n)
{
	ob->len += n;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t len)
{
	size_t room;
	char *dst = outbuf_reserve(ob, len, &room);

	if (dst == NULL)
		return -1;
	memcpy(dst, data, len);
	ob->len += len;
	return 0;
}

int outbuf_printf(struct outbuf *ob, const char *fmt, ...)
{
	char line[1024];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	return outbuf_append(ob, line, (size_t)n);
}

void outbuf_consume(struct outbuf *ob, size_t n)
{
	ob->start += n;
	ob->len -= n;
	if (ob->len == 0)
		ob->start = 0;
}

void outbuf_release_if_empty(struct outbuf *ob)
{
	if (ob->len == 0)
		outbuf_free(ob);
}

void outbuf_free(struct outbuf *ob)
{
	free(ob->data);
	ob->data = NULL;
	ob->start = ob->len = ob->cap = 0;
}
