/* maildir_scan.c: the Maildir snapshot: listing new/ and cur/ (or a
 * trusted listing from the index), delivery order, sizes (Maildir++ W=,
 * the index, else reading the files on a few threads) and unique UIDLs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store/maildir_private.h"
#include "store/msgconv.h"
#include "store/uidl.h"
#include "util/strnum.h"

/* len + 1 bytes, the last one NUL. */
static char *maildir_arena_alloc(struct maildir *md, size_t len)
{
	struct maildir_arena *a = md->arena;
	char *p;

	if (a == NULL || a->size - a->used < len + 1) {
		size_t size = a == NULL ? MAILDIR_ARENA_FIRST :
			      a->size >= MAILDIR_ARENA_BLOCK / 2 ?
			      MAILDIR_ARENA_BLOCK : 2 * a->size;

		if (size < len + 1)
			size = len + 1;

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
	/* A listing from the index comes in name order, and names whose
	 * leading numbers have the same width (every epoch second from 2001
	 * to 2286) are then in delivery order already: one pass tells. */
	for (i = 1; i < n && maildir_file_cmp(&md->files[i - 1],
					      &md->files[i]) <= 0;
	     i++)
		;
	if (i == n)
		return 0;
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
		size_t n = md->files_alloc == 0 ? 16 : md->files_alloc * 2;

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

/* The listing is complete: give back the doubling's spare slots, which
 * an idle session would otherwise hold for its whole life. */
static void maildir_files_fit(struct maildir *md)
{
	struct maildir_file *f;

	if (md->files_count == 0 || md->files_alloc == md->files_count)
		return;
	f = realloc(md->files, md->files_count * sizeof(*f));
	if (f == NULL)
		return; /* keeping the larger array is fine */
	md->files = f;
	md->files_alloc = md->files_count;
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

int maildir_scan_sub(struct maildir *md, enum maildir_sub sub)
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
		/* only regular files: a symlink could name another user's
		 * mail (DT_UNKNOWN is checked when the file is opened) */
		if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN)
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
int maildir_load_listing(struct maildir *md, const struct index *index)
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
int maildir_load_arrivals(struct maildir *md, const struct index *index,
			  const struct arrivals *arr)
{
	size_t i, start = md->files_count;

	for (i = 0; i < arr->count; i++) {
		const struct arrivals_entry *e = &arr->entries[i];

		/* already in the listing (delivered in the tick it was
		 * stamped in) */
		if (index_lookup(index, e->name) != NULL)
			continue;
		if (maildir_add_file(md, MAILDIR_NEW, e->name) < 0)
			return -1;
		if (!md->files[md->files_count - 1].has_w) {
			md->files_count = start;
			return 1; /* not one of our names */
		}
	}
	return 0;
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
	fd = maildir_open_regular(dir_fd, f->name, O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = maildir_open_regular(dir_fd, f->name, 0);
	/* gone, or a symlink or FIFO where d_type did not tell: no message */
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == EINVAL ?
			       1 : -1;
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
 * reading the file; UIDL from the index (facts, when given), else the
 * base name, else a digest of the base name; ids made unique. Files from
 * a reused listing carry their entry; the others are looked up. */
int maildir_snapshot(struct maildir *md, struct index *index,
		     const struct index *facts, const char **error_r)
{
	struct uidl_set set = { 0 };
	struct maildir_sizer z = { 0 };
	size_t i, out = 0, matched = 0, hint = 0, fhint = 0, t = 0;
	bool *fresh_uidl = NULL;
	int ret = MAILDROP_TEMP;

	if (maildir_sort_files(md) < 0) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	maildir_files_fit(md);
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
		if (e != NULL)
			matched++;
		if (facts != NULL) {
			/* the shared facts, never this node's cached copy:
			 * another node may have retrieved it since */
			const struct index_entry *fe = index_lookup_next(
				facts, f->base, f->base_len, &fhint);

			f->retrieved = fe != NULL ? fe->retrieved : 0;
		} else if (e != NULL) {
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
	for (i = 0, t = 0, fhint = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		struct maildrop_msg *m = &md->drop.msgs[out];
		const struct index_entry *e = f->entry;
		uint64_t size = md->drop.msgs[i].size;
		/* the cache's utf8 answer (a file's content never changes
		 * under its base name), before e may become the facts' */
		unsigned char utf8 = e != NULL ? e->utf8 : INDEX_UTF8_UNKNOWN;
		uint64_t wrap_size = e != NULL ? e->wrap_size : 0;

		if (facts != NULL) /* the UIDL as the shared facts say */
			e = index_lookup_next(facts, f->base, f->base_len,
					      &fhint);
		if (t < z.ntodo && z.todo[t] == i) {
			if (z.status[t] > 0) {
				t++;
				continue; /* vanished: not in the snapshot */
			}
			size = z.sizes[t++];
		}
		m->size = size;
		m->seen = f->retrieved != 0;
		/* a size read now: an answer recorded for another size is
		 * for another file */
		m->utf8 = utf8 == INDEX_UTF8_YES ? MAILDROP_UTF8_YES :
			  utf8 == INDEX_UTF8_NO  ? MAILDROP_UTF8_NO :
						   MAILDROP_UTF8_UNKNOWN;
		m->wrap_size = wrap_size;
		if (f->entry == NULL || f->entry->size != size) {
			m->utf8 = MAILDROP_UTF8_UNKNOWN;
			m->wrap_size = 0;
		}
		f->entry = NULL; /* points into the index, freed soon */
		if (e != NULL && e->uidl == e->key) {
			/* the index says the UIDL is the base (so it is
			 * valid: index_load checked it as one) */
			memcpy(m->uidl, f->base, f->base_len + 1);
			f->uidl_is_base = true;
		} else if (e != NULL) {
			/* a UIDL stored apart from the base, even a valid
			 * one: a digest, a renamed duplicate, or one that
			 * `satchel migrate uidl` imported (clients know it) */
			memcpy(m->uidl, e->uidl, e->uidl_len);
			m->uidl[e->uidl_len] = '\0';
		} else if (uidl_is_valid(f->base, f->base_len)) {
			memcpy(m->uidl, f->base, f->base_len + 1);
			f->uidl_is_base = true;
		} else {
			struct iovec iov = { (void *)f->base, f->base_len };

			if (uidl_digest(&iov, 1, m->uidl) < 0) {
				*error_r = "cannot compute a UIDL";
				goto out_free;
			}
			fresh_uidl[out] = true;
			md->index_dirty = true;
			md->facts_dirty = true;
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
