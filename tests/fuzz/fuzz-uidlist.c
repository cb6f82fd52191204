/* fuzz-uidlist.c: arbitrary bytes as a dovecot-uidlist: parse, and for a
 * list that parses, every record's UIDL through the default template and
 * one with every variable (a result must be what the buffer holds). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/uidlist.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tmpls[] = {
		UIDLIST_DEFAULT_FORMAT, "%u.%v-%Uf/%Lg%%%010XUu",
	};
	struct uidlist *list = NULL;
	const char *error = NULL;
	size_t line = 0, i, t;

	if (uidlist_parse((const char *)data, size, &list, &error, &line) < 0) {
		must(list == NULL && error != NULL);
		return 0;
	}
	must(list != NULL && list->uidvalidity != 0);
	for (i = 0; i < list->count; i++) {
		const struct uidlist_entry *e = &list->entries[i];

		must(e->base != NULL && e->base[0] != '\0' &&
		     strchr(e->base, ':') == NULL &&
		     strchr(e->base, '\n') == NULL);
		must(i == 0 || e->uid > e[-1].uid);
		for (t = 0; t < sizeof(tmpls) / sizeof(tmpls[0]); t++) {
			char out[71];

			if (uidlist_uidl(tmpls[t], list, e, out, sizeof(out),
					 &error) == 0)
				must(strlen(out) < sizeof(out));
		}
	}
	uidlist_free(&list);
	return 0;
}
