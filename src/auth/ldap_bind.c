/* ldap_bind.c: {LDAP-BIND} secrets checked by a bind as the user (see
 * ldap_bind.h). */
#include "auth/ldap_bind.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth_settings.h"
#include "auth/password.h"
#include "util/log.h"

/* Written once before any check runs (the auth process opens its user
 * databases before it starts the hash pool's work), then only read. */
static struct {
	struct ldap_pool_settings set;
	char uris[AUTH_SETTING_STR];
	char cafile[AUTH_SETTING_STR];
} ldap_bind_conf;

/* What a bind's result code says of the password. */
static enum password_check ldap_bind_verdict(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return PASSWORD_MATCH;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_INVALID_DN_SYNTAX:
	case LDAP_NO_SUCH_OBJECT:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_CONSTRAINT_VIOLATION:
		return PASSWORD_MISMATCH;
	default:
		return PASSWORD_UNAVAILABLE;
	}
}

static enum password_check ldap_bind_check(const char *dn,
					   const char *password)
{
	char uris[AUTH_SETTING_STR], error[256], *tok, *save = NULL;
	enum password_check verdict = PASSWORD_UNAVAILABLE;
	struct berval cred;

	memcpy(uris, ldap_bind_conf.uris, sizeof(uris));
	cred.bv_val = (char *)password;
	cred.bv_len = strlen(password);
	for (tok = strtok_r(uris, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		LDAP *ld;
		int rc;

		if (ldap_pool_handle(&ldap_bind_conf.set, tok, &ld, error,
				     sizeof(error)) < 0) {
			log_warn("ldap: a bind to check a password: %s: %s",
				 tok, error);
			continue;
		}
		rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL,
				      NULL, NULL);
		ldap_unbind_ext(ld, NULL, NULL);
		verdict = ldap_bind_verdict(rc);
		if (verdict != PASSWORD_UNAVAILABLE)
			break;
		log_warn("ldap: a bind to check a password: %s: %s", tok,
			 ldap_err2string(rc));
	}
	return verdict;
}

int ldap_bind_setup(const struct ldap_pool_settings *set)
{
	if (strlen(set->uris) >= sizeof(ldap_bind_conf.uris) ||
	    strlen(set->cafile) >= sizeof(ldap_bind_conf.cafile))
		return -1;
	strcpy(ldap_bind_conf.uris, set->uris);
	strcpy(ldap_bind_conf.cafile, set->cafile);
	ldap_bind_conf.set = *set;
	ldap_bind_conf.set.uris = ldap_bind_conf.uris;
	ldap_bind_conf.set.cafile = ldap_bind_conf.cafile;
	/* no service account here: each bind is the user's own */
	ldap_bind_conf.set.bind_dn = "";
	ldap_bind_conf.set.bind_password = "";
	password_set_bind(ldap_bind_check);
	return 0;
}
