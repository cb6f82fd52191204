/* maildir.c: the Maildir store (Maildir++ sizes, satchel.index cache). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/driver.h"
#include "store/index.h"
#include "store/lock.h"
#include "store/msgconv.h"
#include "store/uidl.h"
#include "util/strnum.h"

#define MAILDIR_LOCK_NAME "satchel.lock"
#define MAILDIR_INDEX_NAME "satchel.index"
#define MAILDIR_READ_BUF (256 * 1024)
#define MAILDIR_ARENA_BLOCK (256 * 1024)

enum maildir_sub { MAILDIR_NEW, MAILDIR_CUR, MAILDIR_SUB_COUNT };
static const char *const maildir_sub_names[] = { "new", "cur" };

struct maildir_arena {
	struct maildir_arena *next;
	size_t used, size;
	char data[];
};

struct maildir_file {
	const char *name;     /* file name in its sub-directory (arena) */
	const char *base;     /* name up to ':' (arena) */
	char *moved;          /* malloc'd new name after a move, or NULL */
	enum maildir_sub sub;
	uint64_t s_size, w_size;
	uint64_t lead;        /* leading number of the base (sort key) */
	unsigned lead_len;    /* its digits; 0 = none or too long */
	bool has_s, has_w;
	int64_t retrieved;
};

struct maildir {
	struct maildrop drop;
	char *path;
	struct lock_file *lock;
	struct maildir_arena *arena;
	struct maildir_file *files;  /* parallel to drop.msgs */
	size_t files_count, files_alloc;
	bool index_dirty;
};

struct maildir_reader {
	struct maildrop_reader reader;
	int fd;
};

static char *maildir_arena_dup(struct maildir *md, const char *s, size_t len)
{
	struct maildir_arena *a = md->arena;
	char *p;

	if (a == NULL || a->size - a->used < len + 1) {
		size_t size = len + 1 > MAILDIR_ARENA_BLOCK ?
				      len + 1 : MAILDIR_ARENA_BLOCK;

		a = malloc(sizeof(*a) + size);
		if (a == NULL)
			return NULL;
		a->next = md->arena;
		a->used = 0;
		a->size = size;
		md->arena = a;
	}
	p = a->data + a->used;
	memcpy(p, s, len);
	p[len] = '\0';
	a->used += len + 1;
	return p;
}

/* Maildir++: ",S=<stored size>" and ",W=<size with CRLF>" in the base. */
static void maildir_parse_sizes(struct maildir_file *f)
{
	const char *p = f->base;

	while ((p = strchr(p, ',')) != NULL) {
		char digits[21];
		size_t n;
		uint64_t value;

		p++;
		if ((p[0] != 'S' && p[0] != 'W') || p[1] != '=')
			continue;
		n = strspn(p + 2, "0123456789");
		if (n == 0 || n >= sizeof(digits) ||
		    (p[2 + n] != ',' && p[2 + n] != '\0'))
			continue;
		memcpy(digits, p + 2, n);
		digits[n] = '\0';
		if (strnum_parse_u64(digits, UINT64_MAX, &value) < 0)
			continue;
		if (p[0] == 'S') {
			f->s_size = value;
			f->has_s = true;
		} else {
			f->w_size = value;
			f->has_w = true;
		}
	}
	/* CRLF conversion only adds octets: a smaller W= is bogus */
	if (f->has_w && f->has_s && f->w_size < f->s_size)
		f->has_w = false;
}

/* Delivery order: names start with the epoch seconds, so the leading
 * number compares numerically ("999.x" before "1000.x"), the rest as
 * bytes; new/ before cur/ when a base is in both. The number is parsed
 * once per file (sorting 100,000 names is the hot part of a warm open). */
static void maildir_parse_lead(struct maildir_file *f)
{
	size_t n = strspn(f->base, "0123456789");
	uint64_t value = 0;
	size_t i;

	f->lead_len = 0;
	if (n == 0 || n > 19)
		return; /* compared as text below */
	for (i = 0; i < n; i++)
		value = value * 10 + (uint64_t)(f->base[i] - '0');
	f->lead = value;
	f->lead_len = (unsigned)n;
}

static int maildir_file_cmp(const void *a, const void *b)
{
	const struct maildir_file *x = a, *y = b;
	int c;

	if (x->lead_len != 0 && y->lead_len != 0) {
		if (x->lead != y->lead)
			return x->lead < y->lead ? -1 : 1;
		c = strcmp(x->base + x->lead_len, y->base + y->lead_len);
	} else if (x->lead_len != 0 || y->lead_len != 0) {
		return x->lead_len != 0 ? -1 : 1; /* numbered names first */
	} else {
		c = 0;
	}
	if (c == 0)
		c = strcmp(x->base, y->base);
	if (c == 0)
		c = (int)x->sub - (int)y->sub;
	return c;
}

struct maildir_sort_key {
	uint64_t lead;
	size_t index;
};

/* Sorts md->files in maildir_file_cmp order. A comparison sort of
 * 100,000 names was the largest part of a warm open: numbered names are
 * put in order by a radix sort of their leading number instead, and only
 * runs of equal numbers (and names without one) go through the full
 * comparison. Returns 0 or -1 (out of memory). */
static int maildir_sort_files(struct maildir *md)
{
	size_t n = md->files_count, numbered = 0, i, j;
	struct maildir_sort_key *a, *b, *t;
	struct maildir_file *sorted;

	if (n < 64) {
		if (n > 1)
			qsort(md->files, n, sizeof(*md->files),
			      maildir_file_cmp);
		return 0;
	}
	a = malloc(2 * n * sizeof(*a));
	sorted = malloc(n * sizeof(*sorted));
	if (a == NULL || sorted == NULL) {
		free(a);
		free(sorted);
		return -1;
	}
	b = a + n;
	/* Numbered names first (the comparison puts them first too). */
	for (i = 0; i < n; i++) {
		if (md->files[i].lead_len != 0) {
			a[numbered].lead = md->files[i].lead;
			a[numbered++].index = i;
		}
	}
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[257] = { 0 };
		bool trivial = false;

		for (i = 0; i < numbered; i++)
			count[((a[i].lead >> shift) & 0xff) + 1]++;
		for (i = 0; i < 256; i++) {
			if (count[i + 1] == numbered)
				trivial = true; /* every key has this digit */
			count[i + 1] += count[i];
		}
		if (trivial)
			continue;
		for (i = 0; i < numbered; i++)
			b[count[(a[i].lead >> shift) & 0xff]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (i = 0; i < numbered; i++)
		sorted[i] = md->files[a[i].index];
	for (i = 0, j = numbered; i < n; i++)
		if (md->files[i].lead_len == 0)
			sorted[j++] = md->files[i];
	/* Equal numbers: the full order, run by run. */
	for (i = 0; i < numbered; i = j) {
		for (j = i + 1; j < numbered && sorted[j].lead == sorted[i].lead;
		     j++)
			;
		if (j - i > 1)
			qsort(sorted + i, j - i, sizeof(*sorted),
			      maildir_file_cmp);
	}
	if (n - numbered > 1)
		qsort(sorted + numbered, n - numbered, sizeof(*sorted),
		      maildir_file_cmp);
	free(a < b ? a : b);
	free(md->files);
	md->files = sorted;
	md->files_alloc = n;
	return 0;
}

static int maildir_add_file(struct maildir *md, enum maildir_sub sub,
			    const char *name)
{
	struct maildir_file *f;
	const char *colon = strchr(name, ':');
	size_t len = strlen(name);
	size_t base_len = colon != NULL ? (size_t)(colon - name) : len;

	if (base_len == 0)
		return 0; /* ":2,S" alone is no message we can name */
	if (md->files_count == md->files_alloc) {
		size_t n = md->files_alloc == 0 ? 256 : md->files_alloc * 2;

		if (n > UINT_MAX / 2)
			return -1; /* maildrop_count() is unsigned */
		f = realloc(md->files, n * sizeof(*f));
		if (f == NULL)
			return -1;
		md->files = f;
		md->files_alloc = n;
	}
	f = &md->files[md->files_count];
	memset(f, 0, sizeof(*f));
	f->sub = sub;
	f->name = maildir_arena_dup(md, name, len);
	f->base = colon == NULL ? f->name :
				  maildir_arena_dup(md, name, base_len);
	if (f->name == NULL || f->base == NULL)
		return -1;
	maildir_parse_sizes(f);
	maildir_parse_lead(f);
	md->files_count++;
	return 0;
}

static int maildir_scan_sub(struct maildir *md, enum maildir_sub sub)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     maildir_sub_names[sub]) >= sizeof(path))
		return -1;
	dir = opendir(path);
	if (dir == NULL)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		errno = 0;
		d = readdir(dir);
		if (d == NULL) {
			if (errno != 0)
				ret = -1;
			break;
		}
		/* dotfiles are not messages (Maildir spec) */
		if (d->d_name[0] == '.')
			continue;
		if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN &&
		    d->d_type != DT_LNK)
			continue;
		if (maildir_add_file(md, sub, d->d_name) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(dir);
	return ret;
}

static int maildir_open_file(struct maildir *md, const struct maildir_file *f)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", md->path,
			     maildir_sub_names[f->sub],
			     f->moved != NULL ? f->moved : f->name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The slow path: read the file once to count the CRLF size. dir_fd is
 * its sub-directory (openat: no path walk per file). Returns 0, 1 when
 * the file vanished meanwhile, -1 on an I/O error. */
static int maildir_compute_size(int dir_fd, const struct maildir_file *f,
				char *buf, uint64_t *size_r)
{
	struct msgsize ms;
	int fd;

	/* O_NOATIME: reading 100,000 files must not dirty 100,000 inodes
	 * (allowed to the owner, which the mail user is; else retry). */
	fd = openat(dir_fd, f->name, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dir_fd, f->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	msgsize_init(&ms);
	for (;;) {
		ssize_t n = read(fd, buf, MAILDIR_READ_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		msgsize_feed(&ms, buf, (size_t)n);
	}
	close(fd);
	*size_r = msgsize_finish(&ms);
	return 0;
}

static int maildir_open_sub(struct maildir *md, enum maildir_sub sub);

static int maildir_create(const char *path)
{
	char sub[PATH_MAX];
	static const char *const subs[] = { "", "/new", "/cur", "/tmp" };
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s", path,
				     subs[i]) >= sizeof(sub))
			return -1;
		if (mkdir(sub, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* Builds drop.msgs from the sorted files: size from W=, else the index,
 * else by reading the file; UIDL from the base name, else the index,
 * else a digest of the base name; ids made unique. */
static int maildir_snapshot(struct maildir *md, struct index *index,
			    const char **error_r)
{
	struct uidl_set set;
	char *buf = NULL;
	size_t i, out = 0, matched = 0, hint = 0;
	bool *fresh_uidl = NULL;
	int ret = MAILDROP_TEMP;
	int dir_fd[MAILDIR_SUB_COUNT] = { -1, -1 };

	if (maildir_sort_files(md) < 0) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	md->drop.msgs = calloc(md->files_count + 1, sizeof(*md->drop.msgs));
	fresh_uidl = calloc(md->files_count + 1, sizeof(*fresh_uidl));
	if (md->drop.msgs == NULL || fresh_uidl == NULL ||
	    uidl_set_init(&set, md->files_count) < 0) {
		free(fresh_uidl);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	for (i = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		struct maildrop_msg *m = &md->drop.msgs[out];
		const struct index_entry *e = index_lookup_next(index, f->base,
								&hint);
		size_t blen = strlen(f->base);

		if (e != NULL) {
			matched++;
			f->retrieved = e->retrieved;
		}
		if (f->has_w) {
			m->size = f->w_size;
		} else if (e != NULL && (!f->has_s || e->size >= f->s_size)) {
			m->size = e->size;
		} else {
			int r;

			if (buf == NULL && (buf = malloc(MAILDIR_READ_BUF)) ==
						   NULL) {
				*error_r = "out of memory";
				goto out_free;
			}
			if (dir_fd[f->sub] < 0)
				dir_fd[f->sub] = maildir_open_sub(md, f->sub);
			r = dir_fd[f->sub] < 0 ? -1 :
			    maildir_compute_size(dir_fd[f->sub], f, buf,
						 &m->size);
			if (r < 0) {
				*error_r = "cannot read a message file";
				goto out_free;
			}
			if (r > 0)
				continue; /* vanished: not in the snapshot */
			md->index_dirty = true;
		}
		if (uidl_is_valid(f->base, blen)) {
			memcpy(m->uidl, f->base, blen + 1);
		} else if (e != NULL) {
			snprintf(m->uidl, sizeof(m->uidl), "%s", e->uidl);
		} else {
			struct iovec iov = { (void *)f->base, blen };

			if (uidl_digest(&iov, 1, m->uidl) < 0) {
				*error_r = "cannot compute a UIDL";
				goto out_free;
			}
			fresh_uidl[out] = true;
			md->index_dirty = true;
		}
		if (out != i)
			md->files[out] = *f;
		out++;
	}
	md->files_count = out;
	md->drop.count = (unsigned)out;
	/* ids already shown to clients first, so a new one yields */
	for (i = 0; i < out; i++) {
		if (!fresh_uidl[i] && !uidl_set_add(&set, md->drop.msgs[i].uidl))
			fresh_uidl[i] = true;
	}
	for (i = 0; i < out; i++) {
		if (fresh_uidl[i])
			uidl_set_add_unique(&set, md->drop.msgs[i].uidl);
	}
	if (!index_is_complete(index) || matched != index_count(index))
		md->index_dirty = true;
	ret = MAILDROP_OK;
out_free:
	for (i = 0; i < MAILDIR_SUB_COUNT; i++)
		if (dir_fd[i] >= 0)
			close(dir_fd[i]);
	uidl_set_deinit(&set);
	free(fresh_uidl);
	free(buf);
	return ret;
}

static int maildir_write_index(struct maildir *md, const bool *gone,
			       const char **error_r)
{
	struct index_entry *entries;
	char path[PATH_MAX];
	size_t i, n = 0;
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     MAILDIR_INDEX_NAME) >= sizeof(path)) {
		*error_r = "path too long";
		return -1;
	}
	entries = calloc(md->files_count + 1, sizeof(*entries));
	if (entries == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (i = 0; i < md->files_count; i++) {
		if (gone != NULL && gone[i])
			continue;
		entries[n].key = md->files[i].base;
		entries[n].size = md->drop.msgs[i].size;
		entries[n].uidl = md->drop.msgs[i].uidl;
		entries[n].retrieved = md->files[i].retrieved;
		n++;
	}
	ret = index_write(path, entries, n, error_r);
	free(entries);
	if (ret == 0)
		md->index_dirty = false;
	return ret;
}

static void maildir_free(struct maildrop *drop)
{
	struct maildir *md = (struct maildir *)drop;
	size_t i;

	lock_file_release(&md->lock);
	for (i = 0; i < md->files_count; i++)
		free(md->files[i].moved);
	while (md->arena != NULL) {
		struct maildir_arena *next = md->arena->next;

		free(md->arena);
		md->arena = next;
	}
	free(md->files);
	free(md->drop.msgs);
	free(md->path);
	free(md);
}

static int maildir_open(const struct maildrop_settings *set,
			struct maildrop **drop_r, const char **error_r)
{
	struct maildir *md;
	struct index *index = NULL;
	char path[PATH_MAX];
	struct stat st;
	int ret;

	md = calloc(1, sizeof(*md));
	if (md == NULL || (md->path = strdup(set->path)) == NULL) {
		free(md);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	md->drop.driver = &maildir_driver;
	md->drop.expire_days = set->expire_days;
	if (stat(set->path, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = "cannot access the Maildir";
			ret = MAILDROP_TEMP;
			goto out_fail;
		}
		if (!set->create) {
			/* no Maildir = no mail; nothing to lock */
			md->drop.msgs = calloc(1, sizeof(*md->drop.msgs));
			if (md->drop.msgs == NULL) {
				*error_r = "out of memory";
				ret = MAILDROP_TEMP;
				goto out_fail;
			}
			*drop_r = &md->drop;
			return MAILDROP_OK;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		*error_r = "the Maildir path is not a directory";
		ret = MAILDROP_PERM;
		goto out_fail;
	}
	if (set->create && maildir_create(set->path) < 0) {
		*error_r = "cannot create the Maildir";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", set->path,
			     MAILDIR_LOCK_NAME) >= sizeof(path)) {
		*error_r = "Maildir path too long";
		ret = MAILDROP_PERM;
		goto out_fail;
	}
	ret = lock_file_take(path, set->lock_stale_secs, &md->lock, error_r);
	if (ret != MAILDROP_OK)
		goto out_fail;
	if (maildir_scan_sub(md, MAILDIR_NEW) < 0 ||
	    maildir_scan_sub(md, MAILDIR_CUR) < 0) {
		*error_r = "cannot read the Maildir";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	snprintf(path, sizeof(path), "%s/%s", set->path, MAILDIR_INDEX_NAME);
	if (index_load(path, &index) < 0) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	ret = maildir_snapshot(md, index, error_r);
	index_free(&index);
	if (ret != MAILDROP_OK)
		goto out_fail;
	/* Save computed sizes now, so a dropped connection does not waste
	 * the slow first scan. The index is a cache: failure is harmless. */
	if (md->index_dirty) {
		const char *ignored;

		(void)maildir_write_index(md, NULL, &ignored);
	}
	*drop_r = &md->drop;
	return MAILDROP_OK;

out_fail:
	maildir_free(&md->drop);
	return ret;
}

static int maildir_refresh_lock(struct maildrop *drop)
{
	struct maildir *md = (struct maildir *)drop;

	if (md->lock == NULL)
		return MAILDROP_OK;
	return lock_file_refresh(md->lock) < 0 ? MAILDROP_TEMP : MAILDROP_OK;
}

/* Another MUA may have moved the file (new/ -> cur/, flags changed) since
 * the scan: find it again by its base name. Returns 0 or -1. */
static int maildir_find_moved(struct maildir *md, struct maildir_file *f)
{
	size_t blen = strlen(f->base);
	char path[PATH_MAX];
	struct dirent *d;
	int s, ret = -1;

	for (s = 0; s < MAILDIR_SUB_COUNT && ret < 0; s++) {
		DIR *dir;

		snprintf(path, sizeof(path), "%s/%s", md->path,
			 maildir_sub_names[s]);
		dir = opendir(path);
		if (dir == NULL)
			continue;
		while ((d = readdir(dir)) != NULL) {
			char *moved;

			if (strncmp(d->d_name, f->base, blen) != 0 ||
			    (d->d_name[blen] != ':' && d->d_name[blen] != '\0'))
				continue;
			moved = strdup(d->d_name);
			if (moved == NULL)
				break;
			free(f->moved);
			f->moved = moved;
			f->sub = (enum maildir_sub)s;
			ret = 0;
			break;
		}
		closedir(dir);
	}
	return ret;
}

static ssize_t maildir_reader_read(struct maildrop_reader *reader, char *buf,
				   size_t size)
{
	struct maildir_reader *r = (struct maildir_reader *)reader;
	ssize_t n;

	do {
		n = read(r->fd, buf, size);
	} while (n < 0 && errno == EINTR);
	return n;
}

static void maildir_reader_free(struct maildrop_reader *reader)
{
	struct maildir_reader *r = (struct maildir_reader *)reader;

	close(r->fd);
	free(r);
}

static const struct maildrop_reader_vfuncs maildir_reader_vfuncs = {
	.read = maildir_reader_read,
	.free = maildir_reader_free,
};

static int maildir_reader_open(struct maildrop *drop, unsigned idx,
			       struct maildrop_reader **reader_r,
			       const char **error_r)
{
	struct maildir *md = (struct maildir *)drop;
	struct maildir_file *f = &md->files[idx];
	struct maildir_reader *r;
	int fd;

	fd = maildir_open_file(md, f);
	if (fd < 0 && errno == ENOENT && maildir_find_moved(md, f) == 0)
		fd = maildir_open_file(md, f);
	if (fd < 0) {
		*error_r = errno == ENOENT ? "the message has vanished" :
					     "cannot open the message";
		return MAILDROP_TEMP;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = malloc(sizeof(*r));
	if (r == NULL) {
		close(fd);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	r->reader.v = &maildir_reader_vfuncs;
	r->fd = fd;
	*reader_r = &r->reader;
	return MAILDROP_OK;
}

static int maildir_flag_cmp(const void *a, const void *b)
{
	return *(const unsigned char *)a - *(const unsigned char *)b;
}

/* The cur/ name of a retrieved message: "base:2,FLAGS" with S added,
 * flags in ASCII order without duplicates (Maildir spec). Returns 0 and
 * sets *same_r when nothing changes, -1 when the name is too long. */
static int maildir_seen_name(const struct maildir_file *f, const char *name,
			     char *out, size_t size, bool *same_r)
{
	const char *info = strchr(name, ':');
	char flags[NAME_MAX + 2];
	size_t n = 0, i, j;

	*same_r = false;
	if (info != NULL && strncmp(info, ":2,", 3) != 0) {
		/* unknown info semantics: only move it out of new/ */
		*same_r = f->sub == MAILDIR_CUR;
		return (size_t)snprintf(out, size, "%s", name) >= size ? -1 : 0;
	}
	if (info != NULL) {
		n = strlen(info + 3);
		if (n >= sizeof(flags) - 1)
			return -1;
		memcpy(flags, info + 3, n);
		if (memchr(flags, 'S', n) != NULL && f->sub == MAILDIR_CUR) {
			*same_r = true;
			return 0;
		}
	}
	flags[n++] = 'S';
	qsort(flags, n, 1, maildir_flag_cmp);
	for (i = 0, j = 0; i < n; i++) {
		if (j == 0 || flags[j - 1] != flags[i])
			flags[j++] = flags[i];
	}
	flags[j] = '\0';
	if ((size_t)snprintf(out, size, "%s:2,%s", f->base, flags) >= size)
		return -1;
	return 0;
}

static int maildir_open_sub(struct maildir *md, enum maildir_sub sub)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     maildir_sub_names[sub]) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int maildir_commit(struct maildrop *drop, unsigned *deleted_r,
			  const char **error_r)
{
	struct maildir *md = (struct maildir *)drop;
	int dirfd[MAILDIR_SUB_COUNT] = { -1, -1 };
	int64_t now = (int64_t)time(NULL);
	bool *gone = NULL, changed = false, failed = false;
	size_t i;
	int s, ret = MAILDROP_OK;

	if (md->lock == NULL)
		return MAILDROP_OK; /* no Maildir: nothing to do */
	gone = calloc(md->files_count + 1, sizeof(*gone));
	if (gone == NULL) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		dirfd[s] = maildir_open_sub(md, (enum maildir_sub)s);
		if (dirfd[s] < 0) {
			*error_r = "cannot open the Maildir";
			ret = MAILDROP_TEMP;
			goto out_close;
		}
	}
	for (i = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		struct maildrop_msg *m = &md->drop.msgs[i];
		const char *name = f->moved != NULL ? f->moved : f->name;
		char seen[NAME_MAX + 1];
		bool same;

		if (m->deleted ||
		    maildrop_msg_is_expired(drop, f->retrieved, now)) {
			/* unlink is atomic: the message is whole or gone */
			if (unlinkat(dirfd[f->sub], name, 0) == 0) {
				(*deleted_r)++;
			} else if (errno != ENOENT) {
				failed = true;
				continue;
			}
			gone[i] = true;
			changed = true;
			continue;
		}
		if (!m->retrieved)
			continue;
		/* RFC 2449 EXPIRE counts from the first retrieval */
		if (f->retrieved == 0) {
			f->retrieved = now;
			changed = true;
		}
		if (maildir_seen_name(f, name, seen, sizeof(seen), &same) < 0 ||
		    same)
			continue;
		if (renameat(dirfd[f->sub], name, dirfd[MAILDIR_CUR], seen) < 0 &&
		    errno != ENOENT)
			failed = true;
	}
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		if (fsync(dirfd[s]) < 0)
			failed = true;
	}
	if (changed || md->index_dirty) {
		const char *ignored;

		/* a cache: losing it costs time, never mail */
		(void)maildir_write_index(md, gone, &ignored);
	}
	if (failed) {
		*error_r = "some deleted messages not removed";
		ret = MAILDROP_TEMP;
	}
out_close:
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		if (dirfd[s] >= 0)
			close(dirfd[s]);
	}
	free(gone);
	lock_file_release(&md->lock);
	return ret;
}

const struct maildrop_driver maildir_driver = {
	.open = maildir_open,
	.refresh_lock = maildir_refresh_lock,
	.reader_open = maildir_reader_open,
	.commit = maildir_commit,
	.free = maildir_free,
};
