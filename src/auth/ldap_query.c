/* ldap_query.c: filters and the attribute map of the LDAP driver (see
 * ldap_query.h). */
#include "auth/ldap_query.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* RFC 4515 3.: the assertion value may not hold NUL, '(', ')', '*' or
 * '\' unescaped; octets outside printable ASCII are escaped too, so
 * what reaches the directory is plain ASCII whatever the client sent. */
static bool ldap_query_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '*' &&
	       c != '\\';
}

int ldap_query_escape(const char *value, size_t len, char *out,
		      size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (ldap_query_plain(c)) {
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)c;
			continue;
		}
		if (o + 3 >= size)
			return -1;
		out[o++] = '\\';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return 0;
}

int ldap_query_filter(const char *tmpl, const char *user, char *out,
		      size_t size, const char **error_r)
{
	const char *at = user != NULL ? strchr(user, '@') : NULL;
	const char *p;
	size_t o = 0;

	for (p = tmpl; *p != '\0'; p++) {
		const char *v = p;
		size_t vlen = 1;
		bool escape = false;

		if (*p == '%') {
			escape = true;
			switch (p[1]) {
			case 'u':
				v = user;
				vlen = user != NULL ? strlen(user) : 0;
				break;
			case 'n':
				v = user;
				vlen = at != NULL ? (size_t)(at - user) :
				       user != NULL ? strlen(user) : 0;
				break;
			case 'd':
				v = at != NULL ? at + 1 : "";
				vlen = strlen(v);
				break;
			case '%':
				escape = false;
				break;
			default:
				*error_r = "ldap_user_filter may use only %u, "
					   "%n, %d and %%";
				return -1;
			}
			p++;
		}
		if (user == NULL)
			continue;
		if (escape) {
			if (ldap_query_escape(v, vlen, out + o, size - o) < 0)
				goto out_long;
			o += strlen(out + o);
		} else {
			if (o + 1 >= size)
				goto out_long;
			out[o++] = *v;
		}
	}
	if (user != NULL) {
		if (o >= size)
			goto out_long;
		out[o] = '\0';
	}
	return 0;

out_long:
	*error_r = "the filter is too long";
	return -1;
}

static const char *const ldap_query_fields[] = {
	"user", "password", "secrets", "uid", "gid", "home", "mail",
	"quota_bytes", "quota_messages", "login_delay", "expire",
};

static bool ldap_query_attr_ok(const char *a, size_t len)
{
	size_t i;
	bool oid = isdigit((unsigned char)a[0]);

	if (len == 0 || len >= LDAP_ATTR_MAX)
		return false;
	if (!oid && !isalpha((unsigned char)a[0]))
		return false;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)a[i];

		if (oid ? !(isdigit(c) || c == '.') :
			  !(isalnum(c) || c == '-'))
			return false;
	}
	return true;
}

/* [s, s + len) without blanks at either end */
static void ldap_query_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

static int ldap_query_item(const char *item, size_t len, struct ldap_map *m,
			   const char **error_r)
{
	const char *eq, *f;
	size_t alen, flen, i;

	ldap_query_trim(&item, &len);
	if (len == 0)
		return 0;
	eq = memchr(item, '=', len);
	if (eq == NULL) {
		*error_r = "ldap_attributes: expected attribute=field";
		return -1;
	}
	alen = (size_t)(eq - item);
	f = eq + 1;
	flen = len - alen - 1;
	ldap_query_trim(&item, &alen);
	ldap_query_trim(&f, &flen);
	if (!ldap_query_attr_ok(item, alen)) {
		*error_r = "ldap_attributes: a bad attribute name";
		return -1;
	}
	if (m->n >= LDAP_MAP_MAX) {
		*error_r = "ldap_attributes: too many attributes";
		return -1;
	}
	for (i = 0; i < sizeof(ldap_query_fields) /
			sizeof(ldap_query_fields[0]); i++) {
		if (strlen(ldap_query_fields[i]) == flen &&
		    memcmp(ldap_query_fields[i], f, flen) == 0)
			break;
	}
	if (i == sizeof(ldap_query_fields) / sizeof(ldap_query_fields[0])) {
		*error_r = "ldap_attributes: an unknown field (user, "
			   "password, secrets, uid, gid, home, mail, "
			   "quota_bytes, quota_messages, login_delay, expire)";
		return -1;
	}
	memcpy(m->items[m->n].attr, item, alen);
	m->items[m->n].attr[alen] = '\0';
	m->items[m->n].field = ldap_query_fields[i];
	m->n++;
	return 0;
}

int ldap_query_map(const char *text, struct ldap_map *map_r,
		   const char **error_r)
{
	const char *p = text;

	memset(map_r, 0, sizeof(*map_r));
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (ldap_query_item(p, len, map_r, error_r) < 0)
			return -1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

const char *ldap_query_field(const struct ldap_map *map, const char *attr)
{
	unsigned i;

	for (i = 0; i < map->n; i++) {
		if (strcasecmp(map->items[i].attr, attr) == 0)
			return map->items[i].field;
	}
	return NULL;
}

bool ldap_query_maps(const struct ldap_map *map, const char *field)
{
	unsigned i;

	for (i = 0; i < map->n; i++) {
		if (strcmp(map->items[i].field, field) == 0)
			return true;
	}
	return false;
}
