/* outbuf.h: the output buffer of a connection. Replies are appended and
 * written out in large writes (PIPELINING: one write per batch, not one
 * per line). Memory is released when the buffer drains, so an idle
 * connection holds none. */
#ifndef SATCHEL_OUTBUF_H
#define SATCHEL_OUTBUF_H

#include <stddef.h>

struct outbuf {
	char *data;
	size_t start, len, cap;
};

/* Appends; 0 or -1 on out of memory (nothing appended). */
int outbuf_append(struct outbuf *ob, const void *data, size_t len);
int outbuf_printf(struct outbuf *ob, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reserves at least min bytes at the end: returns where to write and sets
 * *size_r to the room there; NULL on out of memory. Commit with
 * outbuf_commit(). */
char *outbuf_reserve(struct outbuf *ob, size_t min, size_t *size_r);
void outbuf_commit(struct outbuf *ob, size_t n);
/* Pending bytes. */
static inline size_t outbuf_pending(const struct outbuf *ob)
{
	return ob->len;
}
static inline const char *outbuf_head(const struct outbuf *ob)
{
	return ob->data + ob->start;
}
/* Drops n written bytes. */
void outbuf_consume(struct outbuf *ob, size_t n);
/* Frees the memory when nothing is pending (the connection went idle). */
void outbuf_release_if_empty(struct outbuf *ob);
void outbuf_free(struct outbuf *ob);

#endif
