/* sasl_mech.c: the mechanism table and list parsing (see sasl_mech.h). */
#include "auth/sasl_mech.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth_settings.h"

static const struct sasl_mech sasl_mechs[] = {
	{ "SCRAM-SHA-256-PLUS", SASL_MECH_CHANNEL_BINDING,
	  SASL_BACKEND_SCRAM },
	{ "SCRAM-SHA-256", 0, SASL_BACKEND_SCRAM },
	{ "SCRAM-SHA-1-PLUS", SASL_MECH_CHANNEL_BINDING, SASL_BACKEND_SCRAM },
	{ "SCRAM-SHA-1", 0, SASL_BACKEND_SCRAM },
	{ "CRAM-MD5", SASL_MECH_NEEDS_PLAIN, SASL_BACKEND_GSASL },
	{ "EXTERNAL", SASL_MECH_CLIENT_CERT, SASL_BACKEND_GSASL },
	/* RFC 4752, through gsasl with the configured keytab */
	{ "GSSAPI", SASL_MECH_NEEDS_KEYTAB, SASL_BACKEND_GSASL },
	/* RFC 7628 and Google's XOAUTH2: bearer tokens (sasl_oauth.c) */
	{ "OAUTHBEARER", SASL_MECH_PLAINTEXT | SASL_MECH_NEEDS_TOKEN_KEY,
	  SASL_BACKEND_OAUTH },
	{ "XOAUTH2", SASL_MECH_PLAINTEXT | SASL_MECH_NEEDS_TOKEN_KEY,
	  SASL_BACKEND_OAUTH },
	{ "PLAIN", SASL_MECH_PLAINTEXT, SASL_BACKEND_SIMPLE },
	{ "LOGIN", SASL_MECH_PLAINTEXT, SASL_BACKEND_SIMPLE },
	/* KPOP's sendauth AP_REQ (net/sendauth.h), last: its bit is past
	 * every real mechanism's */
	{ "KPOP", SASL_MECH_NEEDS_KEYTAB | SASL_MECH_INTERNAL,
	  SASL_BACKEND_KPOP },
};

#define SASL_MECH_N (sizeof(sasl_mechs) / sizeof(sasl_mechs[0]))

size_t sasl_mech_count(void)
{
	return SASL_MECH_N;
}

const struct sasl_mech *sasl_mech_get(size_t i)
{
	return i < SASL_MECH_N ? &sasl_mechs[i] : NULL;
}

const struct sasl_mech *sasl_mech_find(const char *name, size_t *index_r)
{
	size_t i;

	for (i = 0; i < SASL_MECH_N; i++) {
		if (strcasecmp(sasl_mechs[i].name, name) == 0) {
			if (index_r != NULL)
				*index_r = i;
			return &sasl_mechs[i];
		}
	}
	return NULL;
}

bool sasl_mech_configured(const struct sasl_mech *m,
			  const struct auth_settings *set, bool check_files)
{
	if ((m->flags & SASL_MECH_NEEDS_KEYTAB) &&
	    (set->gssapi_keytab[0] == '\0' ||
	     (check_files && access(set->gssapi_keytab, R_OK) != 0)))
		return false;
	if ((m->flags & SASL_MECH_NEEDS_TOKEN_KEY) &&
	    (set->oauth_public_key[0] == '\0' ||
	     (check_files && access(set->oauth_public_key, R_OK) != 0)))
		return false;
	return true;
}

int sasl_mech_parse_list(const char *list, unsigned *mask_r,
			 const char **bad_r)
{
	static char bad[40];
	unsigned mask = 0;
	const char *p = list;

	while (*p != '\0') {
		char name[40];
		size_t len = strcspn(p, " \t,"), i;

		if (len == 0) {
			p++;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		if (len >= sizeof(name) || sasl_mech_find(name, &i) == NULL ||
		    (sasl_mechs[i].flags & SASL_MECH_INTERNAL)) {
			snprintf(bad, sizeof(bad), "%s", name);
			*bad_r = bad;
			return -1;
		}
		mask |= 1u << i;
		p += len;
	}
	*mask_r = mask;
	return 0;
}
