/* fuzz-ldapquery.c: hostile login names in LDAP filters, hostile
 * ldap_attributes values (ldap_query.h). The input is split at its
 * first NUL: a filter template, then a login name (also parsed as an
 * attribute map). Whatever the name, the filter it makes must have
 * the template's parentheses and wildcards only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ldap_query.h"

static size_t count(const char *s, const char *set)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += strchr(set, *s) != NULL;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), out[4096];
	const char *tmpl, *user, *error;
	struct ldap_map map;
	size_t tlen;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	tmpl = buf;
	tlen = strlen(buf);
	user = tlen < size ? buf + tlen + 1 : "";
	(void)ldap_query_map(user, &map, &error);
	if (ldap_query_filter(tmpl, user, out, sizeof(out), &error) == 0) {
		char plain[4096];

		/* the same template with a harmless name */
		if (ldap_query_filter(tmpl, "u", plain, sizeof(plain),
				      &error) == 0 &&
		    count(out, "()*") != count(plain, "()*"))
			abort();
	}
	free(buf);
	return 0;
}
