/* maildir.c: the Maildir store (Maildir++ sizes, satchel.index cache). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
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
#define MAILDIR_ARENA_BLOCK (256 * 1024)
/* Reading files to count sizes: a thread per core up to this many, only
 * for at least MAILDIR_THREAD_MIN files (else a thread costs more than it
 * saves); each claims MAILDIR_THREAD_CHUNK files at a time. */
#define MAILDIR_THREADS_MAX 4
#define MAILDIR_THREAD_MIN 512
#define MAILDIR_THREAD_CHUNK 64
#define MAILDIR_SIZE_BUF (64 * 1024)
/* A recorded listing is trusted only for directories whose mtime was at
 * least this much older than the time it was read (docs/store.md). */
#define MAILDIR_STAMP_MARGIN_SECS 2

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
	unsigned base_len;    /* strlen(base) */
	bool has_s, has_w;
	bool uidl_is_base;    /* the snapshot's UIDL is the base name */
	int64_t retrieved;
	const struct index_entry *entry; /* during open only */
};

struct maildir {
	struct maildrop drop;
	char *path;
	struct lock_file *lock;
	struct maildir_arena *arena;
	struct maildir_file *files;  /* parallel to drop.msgs */
	size_t files_count, files_alloc;
	/* new/ and cur/ as read at open, when they may be trusted later
	 * (valid false otherwise); written with the index. */
	struct index_listing listing;
	bool index_dirty;
};

struct maildir_reader {
	struct maildrop_reader reader;
	int fd;
};

/* len + 1 bytes, the last one NUL. */
static char *maildir_arena_alloc(struct maildir *md, size_t len)
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
	p[len] = '\0';
	a->used += len + 1;
	return p;
}

static char *maildir_arena_dup(struct maildir *md, const char *s, size_t len)
{
	char *p = maildir_arena_alloc(md, len);

	if (p != NULL)
		memcpy(p, s, len);
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

/* A zeroed slot at md->files[md->files_count] (not counted yet). */
static struct maildir_file *maildir_new_file(struct maildir *md)
{
	struct maildir_file *f;

	if (md->files_count == md->files_alloc) {
		size_t n = md->files_alloc == 0 ? 256 : md->files_alloc * 2;

		if (n > UINT_MAX / 2)
			return NULL; /* maildrop_count() is unsigned */
		f = realloc(md->files, n * sizeof(*f));
		if (f == NULL)
			return NULL;
		md->files = f;
		md->files_alloc = n;
	}
	f = &md->files[md->files_count];
	memset(f, 0, sizeof(*f));
	return f;
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
	f = maildir_new_file(md);
	if (f == NULL)
		return -1;
	f->sub = sub;
	f->name = maildir_arena_dup(md, name, len);
	f->base = colon == NULL ? f->name :
				  maildir_arena_dup(md, name, base_len);
	if (f->name == NULL || f->base == NULL)
		return -1;
	f->base_len = (unsigned)base_len;
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

/* The files from a trusted index listing instead of readdir: the
 * same names maildir_scan_sub would return (the listing was one). Each
 * file keeps its entry for maildir_snapshot. Returns 0, 1 when an entry
 * is not a name the scan could have produced (then nothing is added and
 * the caller reads the directories), -1 out of memory. */
static int maildir_load_listing(struct maildir *md, const struct index *index)
{
	size_t i, n = index_count(index);

	for (i = 0; i < n; i++) {
		const struct index_entry *e = index_entry_at(index, i);
		const char *info;
		size_t info_len;
		struct maildir_file *f;
		char *name;

		if (e->where == NULL || (e->where[0] != 'n' && e->where[0] != 'c'))
			goto bad;
		info = e->where + 1;
		info_len = e->where_len - 1;
		if ((info_len > 0 && info[0] != ':') || e->key[0] == '.' ||
		    memchr(e->key, ':', e->key_len) != NULL ||
		    memchr(e->key, '/', e->key_len) != NULL ||
		    memchr(info, '/', info_len) != NULL ||
		    e->key_len + info_len > NAME_MAX)
			goto bad;
		f = maildir_new_file(md);
		if (f == NULL)
			return -1;
		f->sub = e->where[0] == 'n' ? MAILDIR_NEW : MAILDIR_CUR;
		name = maildir_arena_alloc(md, e->key_len + info_len);
		if (name == NULL)
			return -1;
		memcpy(name, e->key, e->key_len);
		memcpy(name + e->key_len, info, info_len);
		f->name = name;
		f->base = info_len == 0 ? name :
				maildir_arena_dup(md, e->key, e->key_len);
		if (f->base == NULL)
			return -1;
		f->base_len = e->key_len;
		f->entry = e;
		maildir_parse_lead(f);
		md->files_count++;
	}
	return 0;
bad:
	md->files_count = 0;
	return 1;
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
				char *buf, size_t buf_size, uint64_t *size_r)
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
		ssize_t n = read(fd, buf, buf_size);

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

/* Reading the files whose size is not known yet (first access: every
 * one), by up to MAILDIR_THREADS_MAX threads. The threads share only
 * what does not change while they run (files, dir fds, todo) and the
 * claim counter (atomic); each writes the results of the files it claimed
 * and nothing else. They are all joined before maildir_size_files returns:
 * the store stays single-threaded as seen from the worker. */
struct maildir_sizer {
	const struct maildir_file *files;
	const size_t *todo;        /* indexes into files */
	size_t ntodo;
	const int *dir_fd;         /* per sub-directory */
	uint64_t *sizes;           /* per todo */
	signed char *status;       /* per todo: 0 ok, 1 vanished, -1 error */
	size_t next;               /* next todo to claim (atomic) */
};

static void maildir_sizer_work(struct maildir_sizer *z)
{
	char buf[MAILDIR_SIZE_BUF];

	for (;;) {
		size_t i = __atomic_fetch_add(&z->next, MAILDIR_THREAD_CHUNK,
					      __ATOMIC_RELAXED);
		size_t end = i + MAILDIR_THREAD_CHUNK;

		if (i >= z->ntodo)
			break;
		if (end > z->ntodo)
			end = z->ntodo;
		for (; i < end; i++) {
			const struct maildir_file *f = &z->files[z->todo[i]];
			int fd = z->dir_fd[f->sub];

			z->status[i] = (signed char)(fd < 0 ? -1 :
				maildir_compute_size(fd, f, buf, sizeof(buf),
						     &z->sizes[i]));
		}
	}
}

static void *maildir_sizer_thread(void *arg)
{
	maildir_sizer_work(arg);
	return NULL;
}

static void maildir_size_files(struct maildir_sizer *z)
{
	pthread_t threads[MAILDIR_THREADS_MAX - 1];
	unsigned nthreads = 0, want = 1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t all, old;

	if (z->ntodo >= MAILDIR_THREAD_MIN && cpus > 1)
		want = cpus < MAILDIR_THREADS_MAX ? (unsigned)cpus :
						    MAILDIR_THREADS_MAX;
	if (want > 1) {
		/* signals stay with the worker's own thread */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		while (nthreads < want - 1 &&
		       pthread_create(&threads[nthreads], NULL,
				      maildir_sizer_thread, z) == 0)
			nthreads++;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	maildir_sizer_work(z); /* and this thread too: all done even if
				  no thread could be started */
	while (nthreads > 0)
		pthread_join(threads[--nthreads], NULL);
}

/* Reads the files of todo (see above). Returns 0 or -1 with *error_r;
 * vanished files get status 1. */
static int maildir_read_sizes(struct maildir *md, struct maildir_sizer *z,
			      const char **error_r)
{
	int dir_fd[MAILDIR_SUB_COUNT] = { -1, -1 };
	size_t i;
	int ret = 0, s;

	for (s = 0; s < MAILDIR_SUB_COUNT; s++)
		dir_fd[s] = maildir_open_sub(md, (enum maildir_sub)s);
	z->files = md->files;
	z->dir_fd = dir_fd;
	z->next = 0;
	maildir_size_files(z);
	for (i = 0; i < z->ntodo; i++) {
		if (z->status[i] < 0) {
			*error_r = "cannot read a message file";
			ret = -1;
			break;
		}
	}
	for (s = 0; s < MAILDIR_SUB_COUNT; s++)
		if (dir_fd[s] >= 0)
			close(dir_fd[s]);
	return ret;
}

/* True when the sorted snapshot's UIDLs are all base names and no base
 * appears twice (a base can be in new/ and cur/ at once): then they are
 * distinct without a hash set. Equal bases sort next to each other. */
static bool maildir_uidls_distinct(const struct maildir *md)
{
	size_t i;

	for (i = 0; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i], *p = f - 1;

		if (!f->uidl_is_base)
			return false;
		if (i == 0)
			continue;
		if (f->lead_len != 0 && p->lead_len != 0 && f->lead != p->lead)
			continue;
		if (f->base_len == p->base_len &&
		    memcmp(f->base, p->base, f->base_len) == 0)
			return false;
	}
	return true;
}

/* Builds drop.msgs from the files: size from W=, else the index, else by
 * reading the file; UIDL from the base name, else the index, else a
 * digest of the base name; ids made unique. Files from a reused listing
 * carry their entry; the others are looked up. */
static int maildir_snapshot(struct maildir *md, struct index *index,
			    const char **error_r)
{
	struct uidl_set set = { 0 };
	struct maildir_sizer z = { 0 };
	size_t i, out = 0, matched = 0, hint = 0, t = 0;
	bool *fresh_uidl = NULL;
	int ret = MAILDROP_TEMP;

	if (maildir_sort_files(md) < 0) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	md->drop.msgs = calloc(md->files_count + 1, sizeof(*md->drop.msgs));
	fresh_uidl = calloc(md->files_count + 1, sizeof(*fresh_uidl));
	if (md->drop.msgs == NULL || fresh_uidl == NULL) {
		*error_r = "out of memory";
		goto out_free;
	}
	/* Sizes: which files must be read. */
	for (i = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		const struct index_entry *e = f->entry;

		if (e == NULL)
			e = f->entry = index_lookup_next(index, f->base,
							 f->base_len, &hint);
		if (e != NULL) {
			matched++;
			f->retrieved = e->retrieved;
		}
		if (f->has_w)
			md->drop.msgs[i].size = f->w_size;
		else if (e != NULL && (!f->has_s || e->size >= f->s_size))
			md->drop.msgs[i].size = e->size;
		else
			z.ntodo++;
	}
	if (z.ntodo > 0) {
		size_t *todo = malloc(z.ntodo * sizeof(*todo));

		z.todo = todo;
		z.sizes = malloc(z.ntodo * sizeof(*z.sizes));
		z.status = malloc(z.ntodo);
		if (todo == NULL || z.sizes == NULL || z.status == NULL) {
			*error_r = "out of memory";
			goto out_free;
		}
		for (i = 0; i < md->files_count; i++) {
			const struct maildir_file *f = &md->files[i];
			const struct index_entry *e = f->entry;

			if (!f->has_w &&
			    !(e != NULL && (!f->has_s || e->size >= f->s_size)))
				todo[t++] = i;
		}
		if (maildir_read_sizes(md, &z, error_r) < 0)
			goto out_free;
		md->index_dirty = true;
	}
	for (i = 0, t = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		struct maildrop_msg *m = &md->drop.msgs[out];
		const struct index_entry *e = f->entry;
		uint64_t size = md->drop.msgs[i].size;

		if (t < z.ntodo && z.todo[t] == i) {
			if (z.status[t] > 0) {
				t++;
				continue; /* vanished: not in the snapshot */
			}
			size = z.sizes[t++];
		}
		m->size = size;
		f->entry = NULL; /* points into the index, freed soon */
		if (e != NULL && e->uidl == e->key) {
			/* the index says the UIDL is the base (so it is
			 * valid: index_load checked it as one) */
			memcpy(m->uidl, f->base, f->base_len + 1);
			f->uidl_is_base = true;
		} else if (uidl_is_valid(f->base, f->base_len)) {
			memcpy(m->uidl, f->base, f->base_len + 1);
			f->uidl_is_base = true;
		} else if (e != NULL) {
			memcpy(m->uidl, e->uidl, e->uidl_len);
			m->uidl[e->uidl_len] = '\0';
		} else {
			struct iovec iov = { (void *)f->base, f->base_len };

			if (uidl_digest(&iov, 1, m->uidl) < 0) {
				*error_r = "cannot compute a UIDL";
				goto out_free;
			}
			fresh_uidl[out] = true;
			md->index_dirty = true;
		}
		if (out != i) {
			md->files[out] = *f;
			/* keep the size of a later file not yet copied */
		}
		out++;
	}
	md->files_count = out;
	md->drop.count = (unsigned)out;
	if (!maildir_uidls_distinct(md)) {
		if (uidl_set_init(&set, out) < 0) {
			*error_r = "out of memory";
			goto out_free;
		}
		/* ids already shown to clients first, so a new one yields */
		for (i = 0; i < out; i++) {
			if (!fresh_uidl[i] &&
			    !uidl_set_add(&set, md->drop.msgs[i].uidl))
				fresh_uidl[i] = true;
		}
		for (i = 0; i < out; i++) {
			if (fresh_uidl[i])
				uidl_set_add_unique(&set, md->drop.msgs[i].uidl);
		}
	}
	if (!index_is_complete(index) || !index_is_current(index) ||
	    matched != index_count(index))
		md->index_dirty = true;
	ret = MAILDROP_OK;
out_free:
	for (i = 0; i < md->files_count; i++)
		md->files[i].entry = NULL;
	uidl_set_deinit(&set);
	free((void *)z.todo);
	free(z.sizes);
	free(z.status);
	free(fresh_uidl);
	return ret;
}

/* Writes the index; with the listing recorded at open when it still
 * describes new/ and cur/ (listing non-NULL: nothing renamed or removed
 * since, and the stamps were old enough to be trusted). */
static int maildir_write_index(struct maildir *md, const bool *gone,
			       const struct index_listing *listing,
			       const char **error_r)
{
	struct index_entry *entries;
	char path[PATH_MAX], *where, *p;
	size_t i, n = 0, where_size = 0;
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     MAILDIR_INDEX_NAME) >= sizeof(path)) {
		*error_r = "path too long";
		return -1;
	}
	entries = calloc(md->files_count + 1, sizeof(*entries));
	for (i = 0; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i];
		const char *name = f->moved != NULL ? f->moved : f->name;

		where_size += strlen(name + f->base_len) + 2;
	}
	where = malloc(where_size + 1);
	if (entries == NULL || where == NULL) {
		free(entries);
		free(where);
		*error_r = "out of memory";
		return -1;
	}
	for (i = 0, p = where; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i];
		const char *name = f->moved != NULL ? f->moved : f->name;
		size_t info_len = strlen(name + f->base_len);

		if (gone != NULL && gone[i])
			continue;
		if (f->moved != NULL)
			listing = NULL; /* another MUA changed the dirs */
		/* "n"/"c" and the ":info" of the name (docs/store.md) */
		entries[n].where = p;
		*p++ = f->sub == MAILDIR_NEW ? 'n' : 'c';
		memcpy(p, name + f->base_len, info_len + 1);
		p += info_len + 1;
		entries[n].key = f->base;
		entries[n].size = md->drop.msgs[i].size;
		entries[n].uidl = md->drop.msgs[i].uidl;
		entries[n].retrieved = f->retrieved;
		n++;
	}
	ret = index_write_listing(path, entries, n, listing, error_r);
	free(entries);
	free(where);
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

/* The clock, then new/ and cur/: *l is what the index records with a
 * listing read right after (valid false when a directory is missing). */
static void maildir_stamp_dirs(struct maildir *md, struct index_listing *l)
{
	struct timespec now;
	char path[PATH_MAX];
	int s;

	memset(l, 0, sizeof(*l));
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	l->listed_sec = (int64_t)now.tv_sec;
	l->listed_nsec = (int64_t)now.tv_nsec;
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
				     maildir_sub_names[s]) >= sizeof(path) ||
		    stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			return;
		l->ino[s] = (uint64_t)st.st_ino;
		l->mtime_sec[s] = (int64_t)st.st_mtim.tv_sec;
		l->mtime_nsec[s] = (int64_t)st.st_mtim.tv_nsec;
	}
	l->valid = true;
}

/* The rule (docs/store.md): a recorded listing stands for new/ and cur/
 * while both have the recorded inode and mtime, and each mtime was at
 * least MAILDIR_STAMP_MARGIN_SECS older than the moment the listing was
 * read; a change within the same tick of the kernel's coarse clock can
 * leave the mtime as it was, and it can only be that recent. A listing
 * read "in the future" (the clock went back since) is not trusted
 * either. With rec == now, says whether a listing read now will be
 * trusted later. */
static bool maildir_listing_usable(const struct index_listing *rec,
				   const struct index_listing *now)
{
	int s;

	if (!rec->valid || !now->valid)
		return false;
	if (rec->listed_sec > now->listed_sec ||
	    (rec->listed_sec == now->listed_sec &&
	     rec->listed_nsec > now->listed_nsec))
		return false;
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		int64_t old_sec = rec->mtime_sec[s] + MAILDIR_STAMP_MARGIN_SECS;

		if (rec->ino[s] != now->ino[s] ||
		    rec->mtime_sec[s] != now->mtime_sec[s] ||
		    rec->mtime_nsec[s] != now->mtime_nsec[s])
			return false;
		if (old_sec > rec->listed_sec ||
		    (old_sec == rec->listed_sec &&
		     rec->mtime_nsec[s] > rec->listed_nsec))
			return false;
	}
	return true;
}

static int maildir_open(const struct maildrop_settings *set,
			struct maildrop **drop_r, const char **error_r)
{
	struct maildir *md;
	struct index *index = NULL;
	struct index_listing stamps;
	char path[PATH_MAX];
	struct stat st;
	bool reused = false;
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
	/* the clock first, then the stamps, then the listing (docs/store.md) */
	maildir_stamp_dirs(md, &stamps);
	snprintf(path, sizeof(path), "%s/%s", set->path, MAILDIR_INDEX_NAME);
	if (index_load(path, &index) < 0) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	if (maildir_listing_usable(index_get_listing(index), &stamps)) {
		ret = maildir_load_listing(md, index);
		if (ret < 0) {
			index_free(&index);
			*error_r = "out of memory";
			ret = MAILDROP_TEMP;
			goto out_fail;
		}
		reused = ret == 0;
	}
	if (!reused && (maildir_scan_sub(md, MAILDIR_NEW) < 0 ||
			maildir_scan_sub(md, MAILDIR_CUR) < 0)) {
		index_free(&index);
		*error_r = "cannot read the Maildir";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	ret = maildir_snapshot(md, index, error_r);
	if (reused) {
		md->listing = *index_get_listing(index);
	} else if (maildir_listing_usable(&stamps, &stamps)) {
		/* read now, trustworthy next time: worth a write */
		md->listing = stamps;
		md->index_dirty = true;
	}
	index_free(&index);
	if (ret != MAILDROP_OK)
		goto out_fail;
	/* Save computed sizes now, so a dropped connection does not waste
	 * the slow first scan. The index is a cache: failure is harmless. */
	if (md->index_dirty) {
		const char *ignored;

		(void)maildir_write_index(md, NULL, &md->listing, &ignored);
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
			md->listing.valid = false; /* the dirs change */
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
		md->listing.valid = false;
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
		(void)maildir_write_index(md, gone, &md->listing, &ignored);
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
