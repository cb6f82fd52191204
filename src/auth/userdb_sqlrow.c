/* userdb_sqlrow.c: templates, parameters and the row-to-record mapping
 * of the SQL user databases (see userdb_sqlrow.h). */
#include "auth/userdb_sqlrow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

int sqlrow_template(const char *tmpl, enum sqlrow_style style, char *out,
		    size_t size, const char **error_r)
{
	static const char *const names[2][SQLROW_PARAMS] = {
		[SQLROW_QMARK] = { "?1", "?2", "?3" },
		[SQLROW_DOLLAR] = { "$1", "$2", "$3" },
	};
	size_t o = 0;
	const char *p;

	for (p = tmpl; *p != '\0'; p++) {
		const char *put = NULL;
		char one[2] = { *p, '\0' };

		if (*p == '%') {
			switch (p[1]) {
			case 'u': put = names[style][0]; break;
			case 'n': put = names[style][1]; break;
			case 'd': put = names[style][2]; break;
			case '%': put = "%"; break;
			default:
				*error_r = "a query may use only %u, %n, %d "
					   "and %%";
				return -1;
			}
			p++;
		} else {
			put = one;
		}
		if (o + strlen(put) >= size) {
			*error_r = "query too long";
			return -1;
		}
		memcpy(out + o, put, strlen(put));
		o += strlen(put);
	}
	out[o] = '\0';
	return 0;
}

void sqlrow_params(const char *user, const char *values[SQLROW_PARAMS],
		   int lens[SQLROW_PARAMS])
{
	const char *at = strchr(user, '@');

	values[0] = user;
	lens[0] = (int)strlen(user);
	values[1] = user;
	lens[1] = at != NULL ? (int)(at - user) : (int)strlen(user);
	values[2] = at != NULL ? at + 1 : "";
	lens[2] = (int)strlen(values[2]);
}

static bool sqlrow_value_ok(const char *v, bool in_extra)
{
	for (; *v != '\0'; v++) {
		if (*v == '\n' || *v == '\r' ||
		    (in_extra ? (*v == ' ' || *v == '\t') : *v == ':'))
			return false;
	}
	return true;
}

static void sqlrow_copy(struct sqlrow_line *l, char *dst, size_t size,
			const char *v)
{
	if (!sqlrow_value_ok(v, false) || strlen(v) >= size)
		l->bad = true;
	else
		strcpy(dst, v);
}

static void sqlrow_extra(struct sqlrow_line *l, const char *key,
			 const char *v)
{
	int n;

	if (!sqlrow_value_ok(v, true)) {
		l->bad = true;
		return;
	}
	n = snprintf(l->extra + l->extra_len, sizeof(l->extra) - l->extra_len,
		     "%s%s=%s", l->extra_len > 0 ? " " : "", key, v);
	if (n < 0 || (size_t)n >= sizeof(l->extra) - l->extra_len)
		l->bad = true;
	else
		l->extra_len += (size_t)n;
}

/* secrets: blank-separated, each a secret= field */
static void sqlrow_secrets(struct sqlrow_line *l, const char *v)
{
	char buf[PASSWD_LINE_MAX], *tok, *save = NULL;

	if (strlen(v) >= sizeof(buf)) {
		l->bad = true;
		return;
	}
	strcpy(buf, v);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save))
		sqlrow_extra(l, "secret", tok);
	explicit_bzero(buf, sizeof(buf));
}

static const char *const sqlrow_extra_columns[] = {
	"mail", "quota_bytes", "quota_messages", "login_delay", "expire",
	"client_workarounds",
	"proxy_host",
};

void sqlrow_column(struct sqlrow_line *l, const char *name,
		   const char *v, size_t len)
{
	size_t k;

	if (name == NULL || v == NULL)
		return; /* NULL: not set */
	if (len != strlen(v)) {
		l->bad = true; /* a NUL inside */
		return;
	}
	if (strcmp(name, "user") == 0)
		sqlrow_copy(l, l->user, sizeof(l->user), v);
	else if (strcmp(name, "password") == 0)
		sqlrow_copy(l, l->password, sizeof(l->password), v);
	else if (strcmp(name, "uid") == 0)
		sqlrow_copy(l, l->ids[0], sizeof(l->ids[0]), v);
	else if (strcmp(name, "gid") == 0)
		sqlrow_copy(l, l->ids[1], sizeof(l->ids[1]), v);
	else if (strcmp(name, "home") == 0)
		sqlrow_copy(l, l->home, sizeof(l->home), v);
	else if (strcmp(name, "secrets") == 0)
		sqlrow_secrets(l, v);
	for (k = 0; k < sizeof(sqlrow_extra_columns) /
			sizeof(sqlrow_extra_columns[0]); k++) {
		if (strcmp(name, sqlrow_extra_columns[k]) == 0)
			sqlrow_extra(l, name, v);
	}
}

struct sqlrow_record *sqlrow_record_make(struct sqlrow_line *l,
					 const char *user, const char *db,
					 const char **error_r)
{
	struct sqlrow_record *r;
	char line[PASSWD_LINE_MAX + 1];
	int n;

	*error_r = "a value the passwd-file could not hold";
	/* a row without a user column is the login name's, which must be a
	 * value the passwd-file can hold like any column's (a ':' in it
	 * would make the record another, shorter name's: fuzz-sqlrow) */
	if (l->user[0] == '\0' && user != NULL)
		sqlrow_copy(l, l->user, sizeof(l->user), user);
	if (l->user[0] == '\0') {
		*error_r = "a row without a user";
		return NULL;
	}
	if (user != NULL && strcmp(l->user, user) != 0) {
		/* never served for this name (a name must not select
		 * another's maildrop) */
		log_error("%s: the query for %s returned user %s", db, user,
			  l->user);
		*error_r = "the row names another user";
		return NULL;
	}
	n = snprintf(line, sizeof(line), "%s:%s:%s:%s::%s::%s", l->user,
		     l->password, l->ids[0], l->ids[1], l->home, l->extra);
	if (l->bad || n < 0 || (size_t)n >= sizeof(line))
		goto out_refused;
	r = malloc(sizeof(*r) + (size_t)n + 1);
	if (r == NULL) {
		explicit_bzero(line, sizeof(line));
		*error_r = "out of memory";
		return NULL;
	}
	r->next = NULL;
	r->line_len = (size_t)n;
	memcpy(r->line, line, (size_t)n + 1);
	explicit_bzero(line, sizeof(line));
	if (passwd_parse_line(r->line, &r->entry, error_r) != 0)
		goto out_free;
	/* the record is the name's, never another's */
	if (strcmp(r->entry.user, l->user) != 0) {
		*error_r = "the user name does not parse as itself";
		goto out_free;
	}
	return r;

out_free:
	explicit_bzero(r->line, (size_t)n);
	free(r);

out_refused:
	explicit_bzero(line, sizeof(line));
	log_error("%s: the record of %s is refused: %s", db, l->user,
		  *error_r);
	return NULL;
}

void sqlrow_record_free(struct sqlrow_record **rp)
{
	struct sqlrow_record *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	/* all of it: the parser cut the line at its fields */
	explicit_bzero(r->line, r->line_len);
	free(r);
}

void sqlrow_line_wipe(struct sqlrow_line *l)
{
	explicit_bzero(l, sizeof(*l));
}
