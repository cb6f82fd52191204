/* fuzz-sqlrow.c: what an SQL user database hands the auth process, as
 * hostile as a compromised or careless database could make it. The input
 * is NUL-separated: a query template, a login name, then column name and
 * value pairs (a value may hold NULs of its own as the last field). The
 * template must turn into parameters or be refused, never overflow; the
 * row must become a record only for that login name (a row naming
 * another user is refused) and never crash the passwd-file parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/userdb_sqlrow.h"

static const char *field(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *start = *p, *nul;

	if (start >= end)
		return NULL;
	nul = memchr(start, '\0', (size_t)(end - start));
	*len = nul != NULL ? (size_t)(nul - start) : (size_t)(end - start);
	*p = nul != NULL ? nul + 1 : end;
	return (const char *)start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char tmpl[1024], user[PASSWD_USER_MAX + 1], name[64], out[2048];
	const char *values[SQLROW_PARAMS], *error = NULL, *f;
	int lens[SQLROW_PARAMS];
	struct sqlrow_line line;
	struct sqlrow_record *rec;
	char *copy;
	size_t len;

	f = field(&p, end, &len);
	if (f == NULL || len >= sizeof(tmpl))
		return 0;
	memcpy(tmpl, f, len);
	tmpl[len] = '\0';
	(void)sqlrow_template(tmpl, SQLROW_QMARK, out, sizeof(out), &error);
	(void)sqlrow_template(tmpl, SQLROW_DOLLAR, out, sizeof(out), &error);
	f = field(&p, end, &len);
	if (f == NULL || len >= sizeof(user))
		return 0;
	memcpy(user, f, len);
	user[len] = '\0';
	sqlrow_params(user, values, lens);
	for (int i = 0; i < SQLROW_PARAMS; i++) {
		/* a value with octets lies inside the name */
		if (lens[i] < 0 || (lens[i] > 0 &&
				    (values[i] < user ||
				     values[i] + lens[i] > user + strlen(user))))
			abort();
	}
	memset(&line, 0, sizeof(line));
	while ((f = field(&p, end, &len)) != NULL) {
		const char *value;
		size_t vlen;

		if (len >= sizeof(name))
			break;
		memcpy(name, f, len);
		name[len] = '\0';
		value = field(&p, end, &vlen);
		if (value == NULL) {
			sqlrow_column(&line, name, NULL, 0);
			continue;
		}
		/* a database's value ends in a NUL after its octets */
		copy = malloc(vlen + 1);
		if (copy == NULL)
			break;
		memcpy(copy, value, vlen);
		copy[vlen] = '\0';
		sqlrow_column(&line, name, copy, vlen);
		free(copy);
	}
	rec = sqlrow_record_make(&line, user, "fuzz", &error);
	if (rec != NULL && strcmp(rec->entry.user, user) != 0)
		abort(); /* a row selected another user's record */
	sqlrow_record_free(&rec);
	sqlrow_line_wipe(&line);
	return 0;
}
