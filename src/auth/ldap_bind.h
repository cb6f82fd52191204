/* ldap_bind.h: ldap_auth_bind = yes, the password checked by the
 * directory: a user's record holds "{LDAP-BIND}dn" (userdb_ldap.c), and
 * the check of a password against it (password_check, on the hash
 * pool's threads, never the loop) is a simple bind as dn on a new
 * connection, the URIs tried in order, each step within the network
 * timeout. invalidCredentials and the like are a wrong password; a
 * directory that cannot be reached is PASSWORD_UNAVAILABLE
 * ([SYS/TEMP]), never a wrong password. No secret is held by satchel
 * then, so only mechanisms that send the password can use it: USER/PASS,
 * AUTH PLAIN and AUTH LOGIN (never APOP, CRAM-MD5 or SCRAM). */
#ifndef SATCHEL_LDAP_BIND_H
#define SATCHEL_LDAP_BIND_H

#include "auth/ldap_pool.h"

/* Keeps a copy of set (URIs, timeouts, TLS) for the checks and installs
 * the check (password_set_bind). 0, or -1 when out of memory. Once per
 * process: a second call replaces the settings, which only the tools
 * (that check no passwords) could do. */
int ldap_bind_setup(const struct ldap_pool_settings *set);

#endif
