/* fuzz-popurl.c: RFC 2384 URLs from arbitrary text: a URL that parses
 * has a host and a port, no control octet in its user, and formats to a
 * URL that parses to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/popurl.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct popurl u, again;
	const char *error;
	char *text, out[2048];
	size_t i;

	text = malloc(size + 1);
	must(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (popurl_parse(text, &u, &error) == 0) {
		must(u.host[0] != '\0' && u.port != 0);
		for (i = 0; u.user[i] != '\0'; i++)
			must((unsigned char)u.user[i] >= 0x20 &&
			     u.user[i] != 0x7f);
		must(popurl_format(&u, out, sizeof(out)) > 0);
		must(popurl_parse(out, &again, &error) == 0);
		must(memcmp(&u, &again, sizeof(u)) == 0);
	} else {
		must(error != NULL && error[0] != '\0');
	}
	free(text);
	return 0;
}
