/* fuzz-msgconv.c: the RETR converter against the LIST size: for any
 * message and any chunking, size == octets of a non-stuffing conversion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/msgconv.h"

static uint64_t convert(const uint8_t *data, size_t size, bool stuff,
			int64_t top, size_t chunk)
{
	struct msgconv conv;
	char out[512];
	uint64_t total = 0;
	size_t pos = 0, out_len;

	msgconv_init(&conv, stuff, top);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgsize ms;
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 97;
	msgsize_init(&ms);
	for (size_t pos = 1; pos < size; pos += chunk)
		msgsize_feed(&ms, (const char *)data + pos,
			     size - pos < chunk ? size - pos : chunk);
	if (msgsize_finish(&ms) != convert(data + 1, size - 1, false, -1, chunk))
		__builtin_trap();
	(void)convert(data + 1, size - 1, true, data[0] % 5, chunk);
	return 0;
}
