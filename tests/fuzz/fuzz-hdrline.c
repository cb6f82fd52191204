/* fuzz-hdrline.c: arbitrary bytes as a message head: the X-UIDL that
 * hdrline_find returns must lie inside the input, without line ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/hdrline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data, *v;
	size_t len;

	if (hdrline_find(msg, size, "X-UIDL:", &v, &len) == 1) {
		if (v < msg || v + len > msg + size ||
		    memchr(v, '\n', len) != NULL)
			abort();
	}
	return 0;
}
