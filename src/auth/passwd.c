/* passwd.c: loads a Dovecot-style passwd-file into a sorted, searchable
 * array (see passwd.h). */
#include "auth/passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/msgconv.h"
#include "net/backendlist.h"
#include "util/strnum.h"

/* uid_t is 32 bits and (uid_t)-1 means "no change" to setresuid() */
#define PASSWD_ID_MAX 4294967294ull
#define PASSWD_INT_MAX 2147483647ull

struct passwd_record {
	struct passwd_entry entry;
	unsigned line;
};

/* Every string of every entry points into text, the file's contents, so
 * one wipe and two frees release everything. */
struct passwd_db {
	char *text;
	size_t text_size;
	struct passwd_record *records; /* sorted by user name */
	size_t count;
};

/* Cuts s at the next ':' and returns what follows, or NULL at the end. */
static char *passwd_next_field(char *s)
{
	char *colon = strchr(s, ':');

	if (colon == NULL)
		return NULL;
	*colon = '\0';
	return colon + 1;
}

static int passwd_parse_id(const char *text, long long *id_r)
{
	uint64_t value;

	if (text == NULL || text[0] == '\0') {
		*id_r = -1;
		return 0;
	}
	if (strnum_parse_u64(text, PASSWD_ID_MAX, &value) < 0)
		return -1;
	*id_r = (long long)value;
	return 0;
}

static int passwd_parse_int(const char *text, int *value_r)
{
	uint64_t value;

	if (strnum_parse_u64(text, PASSWD_INT_MAX, &value) < 0)
		return -1;
	*value_r = (int)value;
	return 0;
}

/* A quota in octets or messages: plain digits, up to what the auth
 * reply's int64_t carries. */
static int passwd_parse_quota(const char *text, long long *value_r)
{
	uint64_t value;

	if (strnum_parse_u64(text, INT64_MAX, &value) < 0)
		return -1;
	*value_r = (long long)value;
	return 0;
}

/* The scheme name of "{NAME}...": its start and length, or -1. */
static int passwd_scheme_span(const char *stored, size_t *len_r)
{
	const char *end;

	if (stored[0] != '{' || (end = strchr(stored, '}')) == NULL)
		return -1;
	*len_r = (size_t)(end - stored - 1);
	return 0;
}

static bool passwd_scheme_is(const char *stored, const char *scheme)
{
	static const char *const plain[] = { "PLAIN", "CLEAR", "CLEARTEXT" };
	size_t len, i;

	if (passwd_scheme_span(stored, &len) < 0)
		return false;
	if (strcasecmp(scheme, "PLAIN") != 0)
		return strlen(scheme) == len &&
		       strncasecmp(stored + 1, scheme, len) == 0;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (strlen(plain[i]) == len &&
		    strncasecmp(stored + 1, plain[i], len) == 0)
			return true;
	}
	return false;
}

const char *passwd_entry_secret(const struct passwd_entry *entry,
				const char *scheme)
{
	unsigned i;

	if (passwd_scheme_is(entry->password, scheme))
		return entry->password;
	for (i = 0; i < entry->n_secrets; i++) {
		if (passwd_scheme_is(entry->secrets[i], scheme))
			return entry->secrets[i];
	}
	return NULL;
}

static int passwd_add_secret(struct passwd_entry *entry, char *value,
			     const char **error_r)
{
	char scheme[64];
	size_t len;

	if (passwd_scheme_span(value, &len) < 0 || len == 0 ||
	    len >= sizeof(scheme)) {
		*error_r = "secret= needs a {SCHEME} prefix";
		return -1;
	}
	if (entry->n_secrets == PASSWD_SECRETS_MAX) {
		*error_r = "too many secret= fields";
		return -1;
	}
	memcpy(scheme, value + 1, len);
	scheme[len] = '\0';
	/* two secrets of one scheme would make the choice arbitrary
	 * ({CLEAR} and {CLEARTEXT} are {PLAIN}) */
	if (passwd_scheme_is(value, "PLAIN"))
		snprintf(scheme, sizeof(scheme), "PLAIN");
	if (passwd_entry_secret(entry, scheme) != NULL) {
		*error_r = "two secrets of the same scheme";
		return -1;
	}
	entry->secrets[entry->n_secrets++] = value;
	return 0;
}

static int passwd_parse_extra(char *extra, struct passwd_entry *entry,
			      const char **error_r)
{
	char *field, *save = NULL;

	for (field = strtok_r(extra, " \t", &save); field != NULL;
	     field = strtok_r(NULL, " \t", &save)) {
		char *key = field, *value = strchr(field, '=');

		if (value != NULL)
			*value++ = '\0';
		/* one ':' too many before the extra fields would otherwise
		 * silently drop "mail=" and the like */
		if (key[0] == ':') {
			*error_r = "extra field starts with ':' (extra fields "
				   "follow the 7th ':')";
			return -1;
		}
		if (strncmp(key, "userdb_", 7) == 0)
			key += 7;
		if (strcmp(key, "nologin") == 0 ||
		    strcmp(key, "allow_nets") == 0) {
			/* restrictions we do not implement: fail closed */
			entry->disabled = true;
		} else if (value == NULL) {
			continue;
		} else if (strcmp(key, "mail") == 0) {
			if (value[0] == '\0') {
				*error_r = "empty mail= field";
				return -1;
			}
			entry->mail = value;
		} else if (strcmp(key, "proxy_host") == 0) {
			struct backend_addr one;

			if (backendlist_parse_one(value, &one) < 0) {
				*error_r = "proxy_host= is not one numeric "
					   "host:port";
				return -1;
			}
			entry->proxy_host = value;
		} else if (strcmp(key, "secret") == 0) {
			if (passwd_add_secret(entry, value, error_r) < 0)
				return -1;
		} else if (strcmp(key, "expire") == 0) {
			if (passwd_parse_int(value, &entry->expire_days) < 0) {
				*error_r = "bad number in expire=";
				return -1;
			}
		} else if (strcmp(key, "login_delay") == 0) {
			if (passwd_parse_int(value, &entry->login_delay) < 0) {
				*error_r = "bad number in login_delay=";
				return -1;
			}
		} else if (strcmp(key, "client_workarounds") == 0) {
			unsigned mask;
			const char *bad;

			if (msgconv_workarounds_parse(value, &mask, &bad) < 0) {
				*error_r = "unknown word in client_workarounds=";
				return -1;
			}
			entry->workarounds = (int)mask;
		} else if (strcmp(key, "quota_bytes") == 0) {
			if (passwd_parse_quota(value,
					       &entry->quota_bytes) < 0) {
				*error_r = "bad number in quota_bytes=";
				return -1;
			}
		} else if (strcmp(key, "quota_messages") == 0) {
			if (passwd_parse_quota(value,
					       &entry->quota_messages) < 0) {
				*error_r = "bad number in quota_messages=";
				return -1;
			}
		}
	}
	return 0;
}

static bool passwd_user_ok(const char *user)
{
	const unsigned char *p;

	for (p = (const unsigned char *)user; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == ' ')
			return false;
	}
	return (size_t)(p - (const unsigned char *)user) <= PASSWD_USER_MAX;
}

int passwd_parse_line(char *line, struct passwd_entry *entry_r,
		      const char **error_r)
{
	char *fields[7] = { NULL };
	char *p, *extra;
	size_t len, i;

	memset(entry_r, 0, sizeof(*entry_r));
	entry_r->uid = entry_r->gid = -1;
	entry_r->expire_days = entry_r->login_delay = -1;
	entry_r->workarounds = -1;
	entry_r->quota_bytes = entry_r->quota_messages = -1;

	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	p = line + strspn(line, " \t");
	if (*p == '\0' || *p == '#')
		return 1;

	/* user:password:uid:gid:gecos:home:shell, then the rest of the
	 * line verbatim: extra fields may contain ':' (mail=maildir:...) */
	fields[0] = line;
	for (i = 1; i < 7 && fields[i - 1] != NULL; i++)
		fields[i] = passwd_next_field(fields[i - 1]);
	extra = fields[6] != NULL ? passwd_next_field(fields[6]) : NULL;

	if (fields[0][0] == '\0') {
		*error_r = "empty user name";
		return -1;
	}
	if (!passwd_user_ok(fields[0])) {
		*error_r = "user name too long or with blanks or control bytes";
		return -1;
	}
	if (fields[1] == NULL) {
		*error_r = "missing password field";
		return -1;
	}
	entry_r->user = fields[0];
	entry_r->password = fields[1];
	if (passwd_parse_id(fields[2], &entry_r->uid) < 0) {
		*error_r = "bad uid";
		return -1;
	}
	if (passwd_parse_id(fields[3], &entry_r->gid) < 0) {
		*error_r = "bad gid";
		return -1;
	}
	if (fields[5] != NULL && fields[5][0] != '\0') {
		if (fields[5][0] != '/') {
			*error_r = "home is not an absolute path";
			return -1;
		}
		entry_r->home = fields[5];
	}
	if (extra != NULL && passwd_parse_extra(extra, entry_r, error_r) < 0)
		return -1;
	return 0;
}

void passwd_iter_init(struct passwd_iter *it, const char *text, size_t len)
{
	it->pos = text;
	it->end = text + len;
	it->lineno = 0;
}

/* The same split as passwd_parse_line: seven fields at the first ':'s,
 * then the rest verbatim. */
static void passwd_iter_split(struct passwd_line *l)
{
	size_t start = 0;

	l->n_fields = 0;
	while (l->n_fields < PASSWD_FIELDS) {
		const char *colon = l->n_fields == PASSWD_FIELDS - 1 ? NULL :
				    memchr(l->raw + start, ':', l->len - start);
		size_t stop = colon != NULL ? (size_t)(colon - l->raw) :
				  l->len;

		l->fields[l->n_fields].off = start;
		l->fields[l->n_fields].len = stop - start;
		l->n_fields++;
		if (colon == NULL)
			break;
		start = stop + 1;
	}
}

bool passwd_iter_next(struct passwd_iter *it, struct passwd_line *line_r)
{
	struct passwd_line *l = line_r;
	const char *eol;
	int ret;

	if (it->pos >= it->end)
		return false;
	memset(l, 0, sizeof(*l));
	l->lineno = ++it->lineno;
	l->raw = it->pos;
	eol = memchr(it->pos, '\n', (size_t)(it->end - it->pos));
	l->len = (size_t)((eol != NULL ? eol : it->end) - it->pos);
	it->pos = eol != NULL ? eol + 1 : it->end;
	/* passwd_parse_line drops a CR before the LF, and so does this */
	if (l->len > 0 && l->raw[l->len - 1] == '\r')
		l->len--;
	l->ending = l->raw + l->len;
	l->ending_len = (size_t)(it->pos - l->ending);
	passwd_iter_split(l);
	/* the checks passwd_db_load makes before parsing a line */
	if (l->len > PASSWD_LINE_MAX) {
		l->kind = PASSWD_LINE_BAD;
		l->error = "line too long";
		return true;
	}
	if (memchr(l->raw, '\0', l->len) != NULL) {
		l->kind = PASSWD_LINE_BAD;
		l->error = "NUL byte";
		return true;
	}
	memcpy(it->copy, l->raw, l->len);
	it->copy[l->len] = '\0';
	ret = passwd_parse_line(it->copy, &l->entry, &l->error);
	l->kind = ret == 0 ? PASSWD_LINE_USER :
		  ret > 0 ? PASSWD_LINE_SKIP : PASSWD_LINE_BAD;
	return true;
}

void passwd_iter_deinit(struct passwd_iter *it)
{
	explicit_bzero(it->copy, sizeof(it->copy));
	it->pos = it->end;
}

bool passwd_extra_is_secret(const char *field, size_t len)
{
	if (len > 7 && strncmp(field, "userdb_", 7) == 0) {
		field += 7;
		len -= 7;
	}
	return len >= 7 && strncmp(field, "secret=", 7) == 0;
}

static int passwd_record_cmp(const void *a, const void *b)
{
	const struct passwd_record *ra = a, *rb = b;

	return strcmp(ra->entry.user, rb->entry.user);
}

static int passwd_key_cmp(const void *key, const void *elem)
{
	const struct passwd_record *r = elem;

	return strcmp(key, r->entry.user);
}

/* Reads the whole file into a NUL-terminated buffer. */
static int passwd_read_file(const char *path, char **text_r, size_t *size_r,
			    char *err, size_t errsize)
{
	struct stat st;
	char *text = NULL;
	size_t size, got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file", path);
		goto out_close;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > PASSWD_FILE_MAX) {
		snprintf(err, errsize, "%s: larger than %u octets", path,
			 PASSWD_FILE_MAX);
		goto out_close;
	}
	size = (size_t)st.st_size;
	/* one spare octet for the NUL, one to notice the file growing */
	text = malloc(size + 2);
	if (text == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		goto out_close;
	}
	while (got < size + 1) {
		ssize_t n = read(fd, text + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
			goto out_free;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		snprintf(err, errsize, "%s: changed while being read", path);
		goto out_free;
	}
	text[got] = '\0';
	close(fd);
	*text_r = text;
	*size_r = got + 1;
	return 0;

out_free:
	explicit_bzero(text, size + 2);
	free(text);
out_close:
	close(fd);
	return -1;
}

int passwd_db_load(const char *path, struct passwd_db **db_r,
		   char *err, size_t errsize)
{
	struct passwd_db *db;
	char *line, *end, *text_end;
	size_t max_records = 1, i;
	unsigned lineno = 0;
	const char *error;

	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		return -1;
	}
	if (passwd_read_file(path, &db->text, &db->text_size,
			     err, errsize) < 0)
		goto out_destroy;
	text_end = db->text + db->text_size - 1;
	for (line = db->text; line < text_end; line++) {
		if (*line == '\n')
			max_records++;
	}
	db->records = calloc(max_records, sizeof(*db->records));
	if (db->records == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		goto out_destroy;
	}

	for (line = db->text; line < text_end; line = end + 1) {
		struct passwd_record *rec = &db->records[db->count];
		int ret;

		lineno++;
		end = memchr(line, '\n', (size_t)(text_end - line));
		if (end == NULL)
			end = text_end;
		/* over-long lines are refused, never cut: half a record
		 * could still parse and mean something else */
		if ((size_t)(end - line) > PASSWD_LINE_MAX) {
			snprintf(err, errsize, "%s:%u: line longer than %d "
				 "octets", path, lineno, PASSWD_LINE_MAX);
			goto out_destroy;
		}
		if (memchr(line, '\0', (size_t)(end - line)) != NULL) {
			snprintf(err, errsize, "%s:%u: NUL byte", path,
				 lineno);
			goto out_destroy;
		}
		*end = '\0';
		ret = passwd_parse_line(line, &rec->entry, &error);
		if (ret < 0) {
			snprintf(err, errsize, "%s:%u: %s", path, lineno,
				 error);
			goto out_destroy;
		}
		if (ret == 0) {
			rec->line = lineno;
			db->count++;
		}
	}

	qsort(db->records, db->count, sizeof(*db->records),
	      passwd_record_cmp);
	for (i = 1; i < db->count; i++) {
		if (strcmp(db->records[i - 1].entry.user,
			   db->records[i].entry.user) == 0) {
			unsigned a = db->records[i - 1].line;
			unsigned b = db->records[i].line;

			snprintf(err, errsize, "%s:%u: duplicate user (also "
				 "on line %u)", path, a > b ? a : b,
				 a > b ? b : a);
			goto out_destroy;
		}
	}
	*db_r = db;
	return 0;

out_destroy:
	passwd_db_destroy(&db);
	return -1;
}

const struct passwd_entry *passwd_db_lookup(const struct passwd_db *db,
					    const char *user)
{
	const struct passwd_record *rec;

	if (db == NULL || db->count == 0)
		return NULL;
	rec = bsearch(user, db->records, db->count, sizeof(*db->records),
		      passwd_key_cmp);
	return rec != NULL ? &rec->entry : NULL;
}

size_t passwd_db_count(const struct passwd_db *db)
{
	return db != NULL ? db->count : 0;
}

const struct passwd_entry *passwd_db_entry(const struct passwd_db *db,
					   size_t i)
{
	return i < db->count ? &db->records[i].entry : NULL;
}

void passwd_db_destroy(struct passwd_db **dbp)
{
	struct passwd_db *db = *dbp;

	if (db == NULL)
		return;
	*dbp = NULL;
	if (db->text != NULL) {
		explicit_bzero(db->text, db->text_size);
		free(db->text);
	}
	free(db->records);
	free(db);
}
