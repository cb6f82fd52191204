/* ldap_query.h: the text of the LDAP driver's requests (userdb_ldap.c):
 * the search filter made from ldap_user_filter with the login name
 * escaped as RFC 4515 3. asks, and the attribute map of ldap_attributes
 * (which directory attribute fills which field of the user record).
 *
 * A login name comes from a client: in a filter every octet that could
 * change the filter's shape ('*', '(', ')', '\', NUL) is written as \XX,
 * and so is every octet outside printable ASCII, so "*)(uid=*" matches
 * only a user whose name is those eight characters. */
#ifndef SATCHEL_LDAP_QUERY_H
#define SATCHEL_LDAP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* The fields an attribute can fill: the SQL drivers' column names
 * (userdb_sqlrow.h), so one mapping serves every database. */
#define LDAP_MAP_MAX 12
#define LDAP_ATTR_MAX 64

struct ldap_map {
	unsigned n;
	struct {
		char attr[LDAP_ATTR_MAX];   /* directory attribute */
		const char *field;          /* sqlrow column name */
	} items[LDAP_MAP_MAX];
};

/* value (len octets) escaped for a filter's assertion value into out
 * (NUL-terminated). 0, or -1 when size is too small. */
int ldap_query_escape(const char *value, size_t len, char *out,
		      size_t size);

/* tmpl with %u (the login name), %n (its local part), %d (its domain,
 * "" without one) escaped, %% a '%', into out. 0, or -1 with *error_r
 * (another variable, no room). user NULL: only checks tmpl. */
int ldap_query_filter(const char *tmpl, const char *user, char *out,
		      size_t size, const char **error_r);

/* Parses "attr=field,attr=field" (blanks around items allowed). Field
 * names: user password secrets uid gid home mail quota_bytes
 * quota_messages login_delay expire. An attribute name is a descriptor
 * (RFC 4512 1.4: a letter, then letters, digits, '-') or a numeric OID.
 * 0, or -1 with *error_r. */
int ldap_query_map(const char *text, struct ldap_map *map_r,
		   const char **error_r);

/* The field attr fills (attribute names compare case-insensitively),
 * NULL for none. */
const char *ldap_query_field(const struct ldap_map *map, const char *attr);
/* True when some attribute fills field. */
bool ldap_query_maps(const struct ldap_map *map, const char *field);

#endif
