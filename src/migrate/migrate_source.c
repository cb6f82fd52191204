/* migrate_source.c: the UIDL sources of `satchel migrate uidl --from`
 * (a table: one loader per source), each turning its list into
 * base name -> UIDL pairs in the old server's message order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "migrate/migrate.h"
#include "store/maildrop.h"
#include "store/uidlist.h"
#include "util/fileio.h"

enum migrate_source_arg {
	MIGRATE_ARG_NONE,       /* "name" */
	MIGRATE_ARG_OPTIONAL,   /* "name" or "name:ARG" */
	MIGRATE_ARG_REQUIRED,   /* "name:ARG" */
};

struct migrate_source {
	const char *name;
	enum migrate_source_arg arg;
	bool takes_format;    /* --format applies */
	int (*load)(const char *maildir, const char *arg, const char *format,
		    struct migrate_pairs *pairs_r);
};

/* Reads all of path (at most max octets) into a NUL-terminated buffer.
 * Returns EX_OK, EX_NOINPUT (missing), EX_DATAERR (too big), EX_IOERR,
 * EX_OSERR; says why on stderr. */
static int migrate_read_file(const char *path, size_t max, char **data_r,
			     size_t *len_r)
{
	struct stat st;
	ssize_t len;
	char *data;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "satchel migrate: %s: %s\n", path,
			strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "satchel migrate: %s: not a regular file\n",
			path);
		close(fd);
		return EX_NOINPUT;
	}
	if ((uint64_t)st.st_size > max) {
		fprintf(stderr, "satchel migrate: %s: over %zu octets\n",
			path, max);
		close(fd);
		return EX_DATAERR;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		close(fd);
		fprintf(stderr, "satchel migrate: out of memory\n");
		return EX_OSERR;
	}
	/* a list that grows while read is cut at its size at fstat: Dovecot
	 * replaces it by rename, so this file never grows */
	len = fileio_read_full(fd, data, (size_t)st.st_size);
	if (len < 0) {
		fprintf(stderr, "satchel migrate: %s: %s\n", path,
			strerror(errno));
		free(data);
		close(fd);
		return EX_IOERR;
	}
	close(fd);
	data[len] = '\0';
	*data_r = data;
	*len_r = (size_t)len;
	return EX_OK;
}

static void migrate_free_uidlist(void *owner)
{
	struct uidlist *list = owner;

	uidlist_free(&list);
}

/* --from dovecot-uidlist[:PATH]: PATH defaults to the Maildir's own. */
static int migrate_load_dovecot(const char *maildir, const char *arg,
				const char *format,
				struct migrate_pairs *pairs_r)
{
	struct uidlist *list = NULL;
	char path[4096], *data = NULL, (*uidls)[MAILDROP_UIDL_MAX + 1];
	const char *error;
	size_t len, line, i;
	int ret;

	if (format == NULL)
		format = UIDLIST_DEFAULT_FORMAT;
	if (uidlist_format_check(format, &error) < 0) {
		fprintf(stderr, "satchel migrate: --format %s: %s\n", format,
			error);
		return EX_USAGE;
	}
	if (arg == NULL &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", maildir,
			     UIDLIST_FILE_NAME) >= sizeof(path)) {
		fprintf(stderr, "satchel migrate: Maildir path too long\n");
		return EX_USAGE;
	}
	ret = migrate_read_file(arg != NULL ? arg : path, UIDLIST_FILE_MAX,
				&data, &len);
	if (ret != EX_OK)
		return ret;
	if (uidlist_parse(data, len, &list, &error, &line) < 0) {
		fprintf(stderr, "satchel migrate: %s: line %zu: %s\n",
			arg != NULL ? arg : path, line, error);
		free(data);
		return EX_DATAERR;
	}
	free(data);
	pairs_r->pairs = calloc(list->count + 1, sizeof(*pairs_r->pairs));
	/* the UIDLs live in one block after the list: freed with it */
	uidls = calloc(list->count + 1, sizeof(*uidls));
	if (pairs_r->pairs == NULL || uidls == NULL) {
		free(pairs_r->pairs);
		free(uidls);
		uidlist_free(&list);
		fprintf(stderr, "satchel migrate: out of memory\n");
		return EX_OSERR;
	}
	for (i = 0; i < list->count; i++) {
		const struct uidlist_entry *e = &list->entries[i];

		if (uidlist_uidl(format, list, e, uidls[i], sizeof(uidls[i]),
				 &error) < 0) {
			/* too long for POP3: the pair is skipped as invalid */
			uidls[i][0] = '\0';
		}
		pairs_r->pairs[i].base = e->base;
		pairs_r->pairs[i].uidl = uidls[i];
	}
	pairs_r->count = list->count;
	/* the bases point into the list, the UIDLs into their block */
	pairs_r->owner = list;
	pairs_r->free_owner = migrate_free_uidlist;
	pairs_r->strings = uidls;
	return EX_OK;
}

/* A plain list is written by hand or by a script: over this it is not
 * one (some 50 octets a line: a million messages). */
#define MIGRATE_FILE_MAX (64u << 20)

/* Splits line into exactly two words (SP or TAB between). */
static bool migrate_split2(char *line, char **a_r, char **b_r)
{
	char *save = NULL;

	*a_r = strtok_r(line, " \t\r", &save);
	*b_r = *a_r != NULL ? strtok_r(NULL, " \t\r", &save) : NULL;
	return *b_r != NULL && strtok_r(NULL, " \t\r", &save) == NULL;
}

/* --from file:PATH: "BASE UIDL" per line, '#' comments and blank lines
 * skipped; BASE may carry its ":2,flags" (cut off). A line that does not
 * fit is an error, not skipped: the admin wrote it and wants it. */
static int migrate_load_file(const char *maildir, const char *arg,
			     const char *format,
			     struct migrate_pairs *pairs_r)
{
	size_t len, i, lines = 1, n = 0, line_no = 0;
	char *data = NULL, *p, *end;
	int ret;

	ret = migrate_read_file(arg, MIGRATE_FILE_MAX, &data, &len);
	if (ret != EX_OK)
		return ret;
	for (i = 0; i < len; i++)
		lines += data[i] == '\n';
	pairs_r->pairs = calloc(lines, sizeof(*pairs_r->pairs));
	if (pairs_r->pairs == NULL) {
		free(data);
		fprintf(stderr, "satchel migrate: out of memory\n");
		return EX_OSERR;
	}
	for (p = data; p < data + len; p = end) {
		char *base, *uidl, *colon;

		end = memchr(p, '\n', (size_t)(data + len - p));
		end = end != NULL ? end : data + len;
		*end++ = '\0';
		line_no++;
		if (memchr(p, '\0', (size_t)(end - 1 - p)) != NULL)
			goto out_bad;
		if (p[strspn(p, " \t\r")] == '\0' || p[strspn(p, " \t")] == '#')
			continue;
		if (!migrate_split2(p, &base, &uidl))
			goto out_bad;
		colon = strchr(base, ':');
		if (colon != NULL)
			*colon = '\0';
		if (base[0] == '\0' || strchr(base, '/') != NULL ||
		    strlen(uidl) > MAILDROP_UIDL_MAX)
			goto out_bad;
		pairs_r->pairs[n].base = base;
		pairs_r->pairs[n].uidl = uidl;
		n++;
	}
	pairs_r->count = n;
	pairs_r->strings = data;
	return EX_OK;
out_bad:
	fprintf(stderr, "satchel migrate: %s: line %zu: not \"BASE UIDL\" "
		"(a Maildir base name and a UIDL of 1-%d printable octets)\n",
		arg, line_no, MAILDROP_UIDL_MAX);
	free(pairs_r->pairs);
	pairs_r->pairs = NULL;
	free(data);
	return EX_DATAERR;
}

static const struct migrate_source migrate_sources[] = {
	{ "dovecot-uidlist", MIGRATE_ARG_OPTIONAL, true, migrate_load_dovecot },
	{ "file", MIGRATE_ARG_REQUIRED, false, migrate_load_file },
	{ "x-uidl", MIGRATE_ARG_NONE, false, migrate_load_xuidl },
};

const char migrate_source_names[] =
	"dovecot-uidlist[:PATH], file:PATH, x-uidl";

int migrate_source_load(const char *spec, const char *maildir,
			const char *format, struct migrate_pairs *pairs_r)
{
	const char *colon = strchr(spec, ':');
	size_t name_len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	size_t i;

	memset(pairs_r, 0, sizeof(*pairs_r));
	for (i = 0; i < sizeof(migrate_sources) / sizeof(migrate_sources[0]);
	     i++) {
		const struct migrate_source *src = &migrate_sources[i];

		if (strlen(src->name) != name_len ||
		    memcmp(src->name, spec, name_len) != 0)
			continue;
		if (src->arg == MIGRATE_ARG_REQUIRED &&
		    (colon == NULL || colon[1] == '\0')) {
			fprintf(stderr, "satchel migrate: --from %s needs "
				":PATH\n", src->name);
			return EX_USAGE;
		}
		if (format != NULL && !src->takes_format) {
			fprintf(stderr, "satchel migrate: --format does not "
				"apply to --from %s\n", src->name);
			return EX_USAGE;
		}
		if (colon != NULL && src->arg == MIGRATE_ARG_NONE) {
			fprintf(stderr, "satchel migrate: --from %s takes no "
				":PATH\n", src->name);
			return EX_USAGE;
		}
		if (colon != NULL && colon[1] == '\0') {
			fprintf(stderr, "satchel migrate: --from %s: empty "
				"PATH\n", src->name);
			return EX_USAGE;
		}
		return src->load(maildir, colon != NULL ? colon + 1 : NULL,
				 format, pairs_r);
	}
	fprintf(stderr, "satchel migrate: unknown --from %s (known: %s)\n",
		spec, migrate_source_names);
	return EX_USAGE;
}

void migrate_pairs_free(struct migrate_pairs *pairs)
{
	if (pairs->free_owner != NULL)
		pairs->free_owner(pairs->owner);
	free(pairs->strings);
	free(pairs->pairs);
	memset(pairs, 0, sizeof(*pairs));
}
