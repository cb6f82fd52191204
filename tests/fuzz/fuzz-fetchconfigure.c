/* fuzz-fetchconfigure.c: what `satchel fetch --configure` reads from
 * outside, from arbitrary octets: a DNS answer (fetch_srv_parse) and an
 * address (fetch_configure_address). An answer that parses holds at
 * most FETCH_SRV_MAX records, each target a NUL-terminated name that
 * sorts; an address that splits has a dot-atom local part and a domain
 * that is a host name short enough for its SRV names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch_configure.h"
#include "fetch/fetch_srv.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_answer(const uint8_t *data, size_t size)
{
	static struct fetch_srv_list list;
	const char *why = NULL;
	size_t i;

	if (fetch_srv_parse(data, size, "_pop3s._tcp.example.test", &list,
			    &why) < 0) {
		must(why != NULL && why[0] != '\0');
		return;
	}
	must(list.count <= FETCH_SRV_MAX);
	for (i = 0; i < list.count; i++) {
		const char *t = list.srv[i].target;

		must(memchr(t, '\0', sizeof(list.srv[i].target)) != NULL);
		must(t[0] != '\0');
		(void)fetch_srv_host_is_valid(t);
	}
	fetch_srv_sort(&list);
	for (i = 1; i < list.count; i++)
		must(list.srv[i - 1].priority <= list.srv[i].priority);
}

static void fuzz_address(const uint8_t *data, size_t size)
{
	char local[FETCH_CONFIGURE_LOCAL_MAX + 1];
	char domain[FETCH_CONFIGURE_DOMAIN_MAX + 1];
	const char *why = NULL;
	char *text = malloc(size + 1);

	must(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (fetch_configure_address(text, local, sizeof(local), domain,
				    sizeof(domain), &why) == 0) {
		must(local[0] != '\0' && strlen(local) <= 64);
		must(strchr(local, '@') == NULL);
		must(fetch_srv_host_is_valid(domain));
		must(strlen(domain) + strlen("_pop3s._tcp.") <= 253);
	} else {
		must(why != NULL && why[0] != '\0');
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_answer(data, size);
	fuzz_address(data, size);
	return 0;
}
