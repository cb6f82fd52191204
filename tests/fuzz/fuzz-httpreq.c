/* fuzz-httpreq.c: the metrics endpoint's request head parser over
 * arbitrary input: it never reads past the input, a head it accepts
 * fits in the input, its method and target are terminated within their
 * bounds, and every prefix of an accepted head asks for more (a request
 * split across reads parses the same). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpreq.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpreq req, again;
	const char *error = NULL;
	size_t used = 0, used2;
	enum httpreq_status st;
	char *copy;

	/* an exact-size copy, so ASan sees a read past the input */
	copy = malloc(size > 0 ? size : 1);
	must(copy != NULL);
	memcpy(copy, data, size);
	st = httpreq_parse(copy, size, &req, &used, &error);
	if (st == HTTPREQ_BAD)
		must(error != NULL && error[0] != '\0');
	if (st == HTTPREQ_DONE) {
		must(used > 0 && used <= size);
		must(memchr(req.method, '\0', sizeof(req.method)) != NULL);
		must(memchr(req.target, '\0', sizeof(req.target)) != NULL);
		must(req.version_minor <= 1);
		for (size_t i = 0; i < used; i++)
			must(httpreq_parse(copy, i, &again, &used2, &error) ==
			     HTTPREQ_MORE);
	}
	free(copy);
	return 0;
}
