/* saslprep.c: RFC 4013 preparation of names and passwords (saslprep.h). */
#include "auth/saslprep.h"

#include <pthread.h>
#include <string.h>

#include <gsasl.h>

/* GNU SASL 2.2.0 (Debian 12) reads GSASL_ALLOW_UNASSIGNED the wrong way
 * round: with it, unassigned code points are refused, without it they
 * pass. One probe with U+0221 (unassigned in Unicode 3.2, RFC 3454
 * table A.1) tells which way the library at hand reads it, so a fixed
 * release works unchanged. */
#define SASLPREP_PROBE "\xc8\xa1"

static pthread_once_t saslprep_once = PTHREAD_ONCE_INIT;
static bool saslprep_inverted;

static void saslprep_probe(void)
{
	char *out = NULL;

	saslprep_inverted = gsasl_saslprep(SASLPREP_PROBE,
					   GSASL_ALLOW_UNASSIGNED, &out,
					   NULL) != GSASL_OK;
	if (out != NULL)
		gsasl_free(out);
}

/* The flags that make gsasl_saslprep do what RFC 4013 2. says of the
 * profile: queries may hold unassigned code points, stored strings not. */
static Gsasl_saslprep_flags saslprep_flags(enum saslprep_profile profile)
{
	bool allow = profile == SASLPREP_QUERY;

	pthread_once(&saslprep_once, saslprep_probe);
	return allow != saslprep_inverted ? GSASL_ALLOW_UNASSIGNED : 0;
}

bool saslprep_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t need, k;
		unsigned cp;

		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 &&
						   cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += need + 1;
	}
	return true;
}

bool saslprep_non_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

int saslprep_string(const char *in, enum saslprep_profile profile,
		    char *out, size_t size)
{
	char *prepared = NULL;
	size_t n;
	int ret = -1;

	if (!saslprep_utf8_valid(in, strlen(in)))
		return -1;
	if (gsasl_saslprep(in, saslprep_flags(profile), &prepared,
			   NULL) == GSASL_OK &&
	    (n = strlen(prepared)) > 0 && n < size) {
		memcpy(out, prepared, n + 1);
		ret = 0;
	}
	if (prepared != NULL) {
		explicit_bzero(prepared, strlen(prepared));
		gsasl_free(prepared);
	}
	return ret;
}
