/* fuzz-msgconv.c: the RETR converter against the LIST size: for any
 * message and any chunking, size == octets of a non-stuffing conversion,
 * with the client workarounds too (outlook-no-nuls keeps the size,
 * oe-ns-eoh adds 2 exactly when msgconv_header_ends() says there is no
 * blank line); and the workaround word parser on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "store/msgconv.h"

static uint64_t convert(const uint8_t *data, size_t size, bool stuff,
			int64_t top, size_t chunk, unsigned workarounds)
{
	struct msgconv conv;
	char out[512];
	uint64_t total = 0;
	size_t pos = 0, out_len;

	msgconv_init(&conv, stuff, top);
	conv.workarounds = workarounds;
	while (pos < size && !msgconv_is_done(&conv)) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		size_t used = msgconv_feed(&conv, (const char *)data + pos, n,
					   out, sizeof(out), &out_len);

		total += out_len;
		pos += used;
	}
	total += msgconv_finish(&conv, out, sizeof(out));
	return total;
}

struct fuzz_reader {
	const uint8_t *data;
	size_t size, pos, chunk;
};

static ssize_t fuzz_read(void *ctx, char *buf, size_t size)
{
	struct fuzz_reader *r = ctx;
	size_t n = r->size - r->pos;

	if (n > size)
		n = size;
	if (n > r->chunk)
		n = r->chunk;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static void parse_words(const uint8_t *data, size_t size)
{
	char text[256];
	unsigned mask;
	const char *bad;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	if (msgconv_workarounds_parse(text, &mask, &bad) == 0 &&
	    (mask & ~(unsigned)(MSGCONV_NO_NULS | MSGCONV_ADD_EOH)) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgsize ms;
	struct fuzz_reader r;
	uint64_t plain;
	size_t chunk;
	int ends;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 97;
	msgsize_init(&ms);
	for (size_t pos = 1; pos < size; pos += chunk)
		msgsize_feed(&ms, (const char *)data + pos,
			     size - pos < chunk ? size - pos : chunk);
	plain = msgsize_finish(&ms);
	r = (struct fuzz_reader){ data + 1, size - 1, 0, chunk };
	ends = msgconv_header_ends(fuzz_read, &r);

	if (plain != convert(data + 1, size - 1, false, -1, chunk, 0))
		__builtin_trap();
	if (plain != convert(data + 1, size - 1, false, -1, chunk,
			     MSGCONV_NO_NULS))
		__builtin_trap();
	if (ends < 0 || plain + (ends ? 0 : 2) !=
	    convert(data + 1, size - 1, false, -1, chunk, MSGCONV_ADD_EOH))
		__builtin_trap();
	(void)convert(data + 1, size - 1, true, data[0] % 5, chunk,
		      data[0] & 3);
	parse_words(data, size);
	return 0;
}
