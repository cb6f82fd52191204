/* loginname.c: the login name's normalisation (loginname.h). */
#include "auth/loginname.h"

#include <stdbool.h>
#include <string.h>

#include "auth/saslprep.h"
#include "store/mailpath.h"

static void loginname_lower(char *s, char *end)
{
	for (; s < end; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

/* The shared part: lower-case, default domain, one '@', valid. */
static int loginname_finish(const struct auth_settings *set, char *out,
			    size_t size, bool add_domain)
{
	char *at = strchr(out, '@');
	size_t len = strlen(out);

	if (at != NULL && (at[1] == '\0' || strchr(at + 1, '@') != NULL))
		return -1;
	if (at == NULL && add_domain && set->default_domain[0] != '\0') {
		size_t dlen = strlen(set->default_domain);

		if (len + 1 + dlen >= size)
			return -1;
		out[len] = '@';
		memcpy(out + len + 1, set->default_domain, dlen + 1);
		at = out + len;
		len += 1 + dlen;
	}
	if (at != NULL)
		loginname_lower(at + 1, out + len);
	if (set->login_lowercase)
		loginname_lower(out, at != NULL ? at : out + len);
	return mailpath_user_valid(out) ? 0 : -1;
}

/* A UTF-8 name is SASLprep'd (saslprep.h): the form a client typed it
 * in must not matter. 8-bit names that are not UTF-8 (from before RFC
 * 6856) stay as they are. */
static int loginname_copy(const char *in, char *out, size_t size)
{
	size_t len = strlen(in);

	if (len == 0 || len >= size)
		return -1;
	if (saslprep_non_ascii(in) && saslprep_utf8_valid(in, len))
		return saslprep_string(in, SASLPREP_QUERY, out, size);
	memcpy(out, in, len + 1);
	return 0;
}

int loginname_normalize(const struct auth_settings *set, const char *in,
			char *out, size_t size)
{
	char *sep;

	if (loginname_copy(in, out, size) < 0)
		return -1;
	if (strchr(out, '@') == NULL) {
		/* the last one: the local part may hold the character too */
		sep = set->login_percent_domain ? strrchr(out, '%') : NULL;
		if (sep == NULL && set->login_sdps)
			sep = strrchr(out, '+');
		if (sep != NULL)
			*sep = '@';
	}
	return loginname_finish(set, out, size, true);
}

int loginname_normalize_address(const struct auth_settings *set,
				const char *in, char *out, size_t size)
{
	if (loginname_copy(in, out, size) < 0)
		return -1;
	return loginname_finish(set, out, size, false);
}
