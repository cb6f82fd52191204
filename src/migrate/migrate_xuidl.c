/* migrate_xuidl.c: `--from x-uidl`: the first X-UIDL header of each
 * message of the Maildir, as qpopper and UW ipop3d wrote it into the mail
 * (a Maildir converted from their mboxes, e.g. by mb2md, still has it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "migrate/migrate.h"
#include "store/hdrline.h"
#include "store/maildrop.h"
#include "util/fileio.h"

/* Only the head is read: qpopper puts X-UIDL among the first fields, and
 * a header section longer than this is no mail a POP3 server wrote. */
#define XUIDL_HEAD_MAX 65536

struct xuidl_owner {
	char **strings;  /* base and UIDL of each pair, malloc'd */
	size_t count, alloc;
};

static void migrate_xuidl_free(void *owner)
{
	struct xuidl_owner *o = owner;
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < o->count; i++)
		free(o->strings[i]);
	free(o->strings);
	free(o);
}

static char *migrate_xuidl_keep(struct xuidl_owner *o, const char *s,
				size_t len)
{
	char *copy;

	if (o->count == o->alloc) {
		size_t n = o->alloc != 0 ? o->alloc * 2 : 64;
		char **p = realloc(o->strings, n * sizeof(*p));

		if (p == NULL)
			return NULL;
		o->strings = p;
		o->alloc = n;
	}
	copy = strndup(s, len);
	if (copy != NULL)
		o->strings[o->count++] = copy;
	return copy;
}

/* The X-UIDL of one file: 1 with *uidl_r and *len_r in buf, 0 none, -1 an
 * I/O error (errno), -2 a folded one. */
static int migrate_xuidl_read(int dir_fd, const char *name, char *buf,
			      const char **uidl_r, size_t *len_r)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t len;
	int ret;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* gone meanwhile: no UIDL */
	len = fileio_read_full(fd, buf, XUIDL_HEAD_MAX);
	close(fd);
	if (len < 0)
		return -1;
	ret = hdrline_find(buf, (size_t)len, "X-UIDL:", uidl_r, len_r);
	return ret < 0 ? -2 : ret;
}

static int migrate_pair_cmp(const void *a, const void *b)
{
	const struct uidl_import_pair *x = a, *y = b;

	return strcmp(x->base, y->base);
}

/* One sub-directory's files into pairs. Returns EX_OK, EX_IOERR,
 * EX_OSERR. */
static int migrate_xuidl_dir(const char *maildir, const char *sub,
			     struct xuidl_owner *o, char *buf,
			     struct migrate_pairs *pairs, size_t *alloc)
{
	char path[4096];
	struct dirent *d;
	DIR *dir;
	int ret = EX_OK;

	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	dir = opendir(path);
	if (dir == NULL) {
		fprintf(stderr, "satchel migrate: %s: %s\n", path,
			strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	while ((d = readdir(dir)) != NULL) {
		const char *uidl;
		size_t ulen, blen = strcspn(d->d_name, ":");
		int r;

		if (d->d_name[0] == '.')
			continue;
		r = migrate_xuidl_read(dirfd(dir), d->d_name, buf, &uidl,
				       &ulen);
		if (r == -1) {
			fprintf(stderr, "satchel migrate: %s/%s: %s\n", path,
				d->d_name, strerror(errno));
			ret = EX_IOERR;
			break;
		}
		if (r == -2)
			fprintf(stderr, "satchel migrate: %s/%s: a folded "
				"X-UIDL: skipped\n", path, d->d_name);
		if (r != 1)
			continue;
		if (pairs->count == *alloc) {
			size_t n = *alloc != 0 ? *alloc * 2 : 64;
			void *p = realloc(pairs->pairs,
					  n * sizeof(*pairs->pairs));

			if (p == NULL)
				goto out_nomem;
			pairs->pairs = p;
			*alloc = n;
		}
		/* an over-long value is kept whole: the import counts it as
		 * invalid instead of cutting it into another UIDL */
		pairs->pairs[pairs->count].base =
			migrate_xuidl_keep(o, d->d_name, blen);
		pairs->pairs[pairs->count].uidl =
			migrate_xuidl_keep(o, uidl, ulen);
		if (pairs->pairs[pairs->count].base == NULL ||
		    pairs->pairs[pairs->count].uidl == NULL)
			goto out_nomem;
		pairs->count++;
	}
	closedir(dir);
	return ret;
out_nomem:
	closedir(dir);
	fprintf(stderr, "satchel migrate: out of memory\n");
	return EX_OSERR;
}

int migrate_load_xuidl(const char *maildir, const char *arg,
		       const char *format, struct migrate_pairs *pairs_r)
{
	static const char *const subs[] = { "new", "cur" };
	struct xuidl_owner *o = calloc(1, sizeof(*o));
	char *buf = malloc(XUIDL_HEAD_MAX);
	size_t alloc = 0, i;
	int ret = EX_OSERR;

	if (o == NULL || buf == NULL) {
		fprintf(stderr, "satchel migrate: out of memory\n");
		goto out_fail;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		ret = migrate_xuidl_dir(maildir, subs[i], o, buf, pairs_r,
					&alloc);
		if (ret != EX_OK)
			goto out_fail;
	}
	free(buf);
	/* no order of the old server survives in a Maildir: by name, which
	 * is delivery order for names of one width, so a duplicate's
	 * earlier copy keeps the id */
	if (pairs_r->count > 0)
		qsort(pairs_r->pairs, pairs_r->count, sizeof(*pairs_r->pairs),
		      migrate_pair_cmp);
	pairs_r->owner = o;
	pairs_r->free_owner = migrate_xuidl_free;
	return EX_OK;
out_fail:
	free(buf);
	migrate_xuidl_free(o);
	free(pairs_r->pairs);
	memset(pairs_r, 0, sizeof(*pairs_r));
	return ret;
}
