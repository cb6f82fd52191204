/* fuzz-fingerprint.c: header fields and the fingerprint over arbitrary
 * input: no crash, a value always NUL-terminated within its buffer, and
 * CRLF read as LF (the same text with each CRLF made LF gives the same
 * fingerprint). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_fingerprint.h"
#include "fetch/fetch_header.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[FETCH_FINGERPRINT_HEX + 1], b[FETCH_FINGERPRINT_HEX + 1];
	char value[32];
	char *nocr = malloc(size + 1);
	size_t i, n = 0;
	bool x, y;

	must(nocr != NULL);
	for (i = 0; i < size; i++) {
		if (data[i] != '\r' || i + 1 == size || data[i + 1] != '\n')
			nocr[n++] = (char)data[i];
	}
	x = fetch_fingerprint((const char *)data, size, a);
	y = fetch_fingerprint(nocr, n, b);
	must(x == y && (!x || memcmp(a, b, sizeof(a)) == 0));
	fetch_header_get((const char *)data, size, "Subject", value,
			 sizeof(value));
	must(memchr(value, '\0', sizeof(value)) != NULL);
	free(nocr);
	return 0;
}
