/* fuzz-fingerprint.c: the header fingerprint over arbitrary input: it
 * never crashes, and feeding it in two pieces (split anywhere) gives
 * what feeding it at once gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_fingerprint.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char whole[FETCH_FINGERPRINT_HEX + 1], split[FETCH_FINGERPRINT_HEX + 1];
	struct fetch_fingerprint *fp = fetch_fingerprint_new();
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;
	bool a, b;

	must(fp != NULL);
	fetch_fingerprint_feed(fp, (const char *)data, size);
	a = fetch_fingerprint_finish(fp, whole);
	fetch_fingerprint_feed(fp, (const char *)data, cut);
	fetch_fingerprint_feed(fp, (const char *)data + cut, size - cut);
	b = fetch_fingerprint_finish(fp, split);
	must(a == b && (!a || memcmp(whole, split, sizeof(whole)) == 0));
	fetch_fingerprint_free(&fp);
	return 0;
}
