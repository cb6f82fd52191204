/* fuzz-msghdr.c: the delivery header filter over arbitrary input: the
 * output does not depend on how the input is split, is never longer,
 * filtering it again changes nothing (no strippable field survives), and
 * NUL is noticed exactly when present. Byte 0 picks the chunk size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/msghdr.h"

struct sink {
	char *buf;
	size_t len;
};

static void must(int cond)
{
	if (!cond)
		abort();
}

static void sink_out(void *ctx, const char *data, size_t n)
{
	struct sink *s = ctx;

	must(n > 0);
	s->buf = realloc(s->buf, s->len + n);
	must(s->buf != NULL);
	memcpy(s->buf + s->len, data, n);
	s->len += n;
}

static struct sink run(const uint8_t *data, size_t size, size_t chunk,
		       struct msghdr *h)
{
	struct sink s = { NULL, 0 };
	size_t pos = 0;

	msghdr_init(h, sink_out, &s);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;

		msghdr_feed(h, (const char *)data + pos, n);
		pos += n;
	}
	msghdr_finish(h);
	(void)msghdr_from_sender(h);
	(void)msghdr_has_delivered_to(h, "a@b");
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msghdr h1, h2, h3;
	struct sink whole, split, again;
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 17;
	data++;
	size--;
	whole = run(data, size, size > 0 ? size : 1, &h1);
	split = run(data, size, chunk, &h2);
	must(whole.len == split.len &&
	     (whole.len == 0 || memcmp(whole.buf, split.buf, whole.len) == 0));
	must(whole.len <= size);
	must(h1.has_nul == (size > 0 && memchr(data, 0, size) != NULL));
	must(h1.crlf == h2.crlf && h1.delivered_to_count ==
					   h2.delivered_to_count &&
	     strcmp(h1.message_id, h2.message_id) == 0);
	/* a From_ line left first (the second of two) is dropped again */
	if (!(whole.len >= 5 && memcmp(whole.buf, "From ", 5) == 0)) {
		again = run((const uint8_t *)whole.buf, whole.len, chunk, &h3);
		must(again.len == whole.len &&
		     (whole.len == 0 ||
		      memcmp(again.buf, whole.buf, whole.len) == 0));
		free(again.buf);
		msghdr_deinit(&h3);
	}
	free(whole.buf);
	free(split.buf);
	msghdr_deinit(&h1);
	msghdr_deinit(&h2);
	return 0;
}
