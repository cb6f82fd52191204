/* libldap_load.h: libldap and liblber, the OpenLDAP client libraries,
 * loaded with dlopen when a feature that needs it is configured
 * (users = ldap:...) instead of linked into every satchel command: its
 * dependencies were a third of the dynamic loader's work at each
 * start of `satchel deliver`, `fetch` or `user`, which never use them.
 *
 * Include this instead of ldap.h and lber.h: after it, the names used here
 * (ber_free, ...) call through a table that libldap_load() fills; calling
 * one before a successful libldap_load() is a bug (a NULL call). */
#ifndef SATCHEL_LIBLDAP_LOAD_H
#define SATCHEL_LIBLDAP_LOAD_H

#include <ldap.h>
#include <lber.h>

#define LIBLDAP_FUNCTIONS(X) \
	X(ber_free) \
	X(ber_sockbuf_ctrl) \
	X(ldap_err2string) \
	X(ldap_first_attribute) \
	X(ldap_get_dn) \
	X(ldap_get_option) \
	X(ldap_get_values_len) \
	X(ldap_initialize) \
	X(ldap_is_ldap_url) \
	X(ldap_is_ldaps_url) \
	X(ldap_memfree) \
	X(ldap_msgfree) \
	X(ldap_msgid) \
	X(ldap_msgtype) \
	X(ldap_next_attribute) \
	X(ldap_parse_result) \
	X(ldap_result) \
	X(ldap_sasl_bind_s) \
	X(ldap_search_ext) \
	X(ldap_set_option) \
	X(ldap_start_tls_s) \
	X(ldap_unbind_ext) \
	X(ldap_value_free_len)

struct libldap_api {
/* f is a declarator here: it cannot take parentheses */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define LIBLDAP_MEMBER(f) __typeof__(f) *f;
	LIBLDAP_FUNCTIONS(LIBLDAP_MEMBER)
#undef LIBLDAP_MEMBER
};

extern struct libldap_api libldap_api;

/* Loads the library once per process (later calls only say how the first
 * went; thread-safe). 0, or -1 with *error_r (static) naming what is
 * missing and the package to install. */
int libldap_load(const char **error_r);

#ifndef LIBLDAP_LOAD_SELF
#define ber_free (libldap_api.ber_free)
#define ber_sockbuf_ctrl (libldap_api.ber_sockbuf_ctrl)
#define ldap_err2string (libldap_api.ldap_err2string)
#define ldap_first_attribute (libldap_api.ldap_first_attribute)
#define ldap_get_dn (libldap_api.ldap_get_dn)
#define ldap_get_option (libldap_api.ldap_get_option)
#define ldap_get_values_len (libldap_api.ldap_get_values_len)
#define ldap_initialize (libldap_api.ldap_initialize)
#define ldap_is_ldap_url (libldap_api.ldap_is_ldap_url)
#define ldap_is_ldaps_url (libldap_api.ldap_is_ldaps_url)
#define ldap_memfree (libldap_api.ldap_memfree)
#define ldap_msgfree (libldap_api.ldap_msgfree)
#define ldap_msgid (libldap_api.ldap_msgid)
#define ldap_msgtype (libldap_api.ldap_msgtype)
#define ldap_next_attribute (libldap_api.ldap_next_attribute)
#define ldap_parse_result (libldap_api.ldap_parse_result)
#define ldap_result (libldap_api.ldap_result)
#define ldap_sasl_bind_s (libldap_api.ldap_sasl_bind_s)
#define ldap_search_ext (libldap_api.ldap_search_ext)
#define ldap_set_option (libldap_api.ldap_set_option)
#define ldap_start_tls_s (libldap_api.ldap_start_tls_s)
#define ldap_unbind_ext (libldap_api.ldap_unbind_ext)
#define ldap_value_free_len (libldap_api.ldap_value_free_len)
#endif

#endif
