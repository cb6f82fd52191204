/* fuzz-mimescan.c: the UTF-8-mode scan (store/mimescan.h) on any bytes:
 * never out of bounds, and the same answer however the input is split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/mimescan.h"

static struct mimescan whole, split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 13;
	mimescan_init(&whole);
	(void)mimescan_feed(&whole, (const char *)data + 1, size - 1);
	mimescan_init(&split);
	for (size_t pos = 1; pos < size; pos += chunk)
		(void)mimescan_feed(&split, (const char *)data + pos,
				    size - pos < chunk ? size - pos : chunk);
	if (mimescan_needs_utf8(&whole) != mimescan_needs_utf8(&split))
		__builtin_trap();
	return 0;
}
