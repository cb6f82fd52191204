/* utf8wrap.h: RFC 6858-style downgrading for a POP3 client that did not
 * send UTF8 (utf8_legacy = wrap): instead of a message whose header needs
 * UTF-8 mode it gets an ASCII surrogate, so nothing is lost even when it
 * deletes after downloading:
 *
 *	From/To/Cc/Subject/Date/Message-ID of the original: copied when
 *	    ASCII; Subject as RFC 2047 encoded words, From/To/Cc as an
 *	    encoded group name ("=?UTF-8?B?...?= :;") when not; Date and
 *	    Message-ID dropped when not
 *	MIME-Version, a multipart/mixed Content-Type
 *	a text/plain part: a short note
 *	a message/global part (RFC 6532), base64: the original as RETR
 *	    would send it (CRLF lines)
 *
 * Every line ends in CRLF and none starts with ".", so the surrogate's
 * size is known from the original's header and RETR size alone
 * (utf8wrap_size), before anything is sent: STAT and LIST stay true. */
#ifndef SATCHEL_UTF8WRAP_H
#define SATCHEL_UTF8WRAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The header octets read (up to the blank line) to build the surrogate;
 * fields past it are not copied (the original keeps them all). */
#define UTF8WRAP_HEADER_MAX 65536

typedef ssize_t utf8wrap_read_fn(void *ctx, char *buf, size_t size);

/* The surrogate's text before its base64 lines, from the original's
 * header (len octets as stored; more than the header is fine).
 * Returns 0 with *out_r (malloc'd, the caller frees) and *len_r, -1 when
 * out of memory. */
int utf8wrap_prefix(const char *header, size_t len, char **out_r,
		    size_t *len_r);
/* Octets of the whole surrogate for a prefix of prefix_len octets and an
 * original whose RETR size is orig_size. */
uint64_t utf8wrap_size(size_t prefix_len, uint64_t orig_size);

struct utf8wrap;

/* Reads the original's header through read(ctx) and prepares the
 * surrogate. 0, or -1 (read error: *error_r; out of memory). */
int utf8wrap_open(utf8wrap_read_fn *read, void *ctx, struct utf8wrap **w_r,
		  const char **error_r);
/* The next octets of the surrogate: a count, 0 at its end, -1 when the
 * original cannot be read. */
ssize_t utf8wrap_read(struct utf8wrap *w, char *buf, size_t size);
/* utf8wrap_size() of this surrogate. */
uint64_t utf8wrap_total(const struct utf8wrap *w, uint64_t orig_size);
void utf8wrap_destroy(struct utf8wrap **wp);

#endif
