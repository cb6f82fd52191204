/* fuzz-promline.c: the Prometheus line parser of `satchel status` over
 * arbitrary input (what a metrics endpoint answers is untrusted): it
 * never reads past the line, its name and labels are terminated within
 * their bounds and the labels hold no control byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/promline.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct promline p;
	char *copy = malloc(size > 0 ? size : 1);

	must(copy != NULL);
	memcpy(copy, data, size);
	if (promline_parse(copy, size, &p) == PROMLINE_SAMPLE) {
		must(memchr(p.name, '\0', sizeof(p.name)) != NULL);
		must(memchr(p.labels, '\0', sizeof(p.labels)) != NULL);
		must(p.name[0] != '\0');
		for (const char *c = p.labels; *c != '\0'; c++)
			must((unsigned char)*c >= 0x20 && *c != 0x7f);
	}
	free(copy);
	return 0;
}
