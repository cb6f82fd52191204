/* fuzz-fetchmark.c: the fetch client's no-news mark over arbitrary
 * text: it parses to none or to a mark whose UIDLs are valid and whose
 * text parses back to the same mark. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_mark.h"
#include "store/uidl.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FETCH_MARK_TEXT_MAX + 1];
	struct fetch_mark m, back;
	int n;

	if (fetch_mark_parse((const char *)data, size, &m) < 0)
		return 0;
	must(m.count > 0 && uidl_is_valid(m.first, strlen(m.first)) &&
	     uidl_is_valid(m.last, strlen(m.last)));
	n = fetch_mark_format(&m, text, sizeof(text));
	must(n > 0);
	must(fetch_mark_parse(text, (size_t)n, &back) == 0);
	must(back.count == m.count && back.octets == m.octets &&
	     back.listed_at == m.listed_at && back.due == m.due &&
	     back.ident == m.ident && strcmp(back.first, m.first) == 0 &&
	     strcmp(back.last, m.last) == 0);
	return 0;
}
