/* test-maildir_indexdir.c: index_dir (docs/scaling.md): two "nodes" with
 * their own node-local index cache over one Maildir. Each sees the
 * other's deletions and the deliveries; UIDLs (digests included) and
 * retrieval times are the same on both, because they live in the
 * Maildir's satchel.index, never only in a node's cache. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/index.h"
#include "store/maildrop.h"
#include "unit.h"

static char root[] = "/tmp/satchel-indexdir-XXXXXX";
static char md_path[512], dir_a[512], dir_b[512], facts_path[600];

/* a base name too long for a UIDL: its UIDL is a digest, a fact */
#define LONG_BASE "1700000002.M2P2.a-host-name-far-too-long-to-be-a-uidl-" \
		  "because-uidls-stop-at-seventy-octets"

static void put(const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/new/%s", md_path, name);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct maildrop *open_on(const char *index_dir, unsigned expire)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = md_path,
		.lock_stale_secs = 300, .expire_days = expire,
		.create = true, .index_dir = index_dir,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;

	if (maildrop_open(&set, &drop, &error) != MAILDROP_OK) {
		fprintf(stderr, "open: %s\n", error);
		abort();
	}
	return drop;
}

static void commit(struct maildrop **dropp, unsigned *deleted_r)
{
	const char *error = NULL;

	*deleted_r = 0;
	if (maildrop_commit(dropp, deleted_r, &error) != MAILDROP_OK) {
		fprintf(stderr, "commit: %s\n", error);
		abort();
	}
}

/* The message whose UIDL starts with prefix, or NULL. */
static struct maildrop_msg *find(struct maildrop *drop, const char *prefix)
{
	unsigned i;

	for (i = 0; i < maildrop_count(drop); i++) {
		struct maildrop_msg *m = maildrop_msg(drop, i);

		if (strncmp(m->uidl, prefix, strlen(prefix)) == 0)
			return m;
	}
	return NULL;
}

/* The one file in a node's index_dir, loaded. */
static struct index *cache_of(const char *dir)
{
	char path[1024];
	struct index *index = NULL;
	struct dirent *d;
	DIR *dh = opendir(dir);
	int n = 0;

	if (dh == NULL)
		return NULL;
	while ((d = readdir(dh)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
	}
	closedir(dh);
	if (n != 1 || index_load(path, &index) < 0)
		return NULL;
	return index;
}

static void set_dirs_old(void)
{
	static const char *const subs[] = { "new", "cur" };
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1700000000, 0 } };
	char path[1024];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", md_path, subs[i]);
		if (utimensat(AT_FDCWD, path, ts, 0) < 0)
			abort();
	}
}

int main(void)
{
	struct maildrop *drop;
	struct maildrop_msg *m;
	struct index *index;
	const struct index_entry *e;
	char digest[MAILDROP_UIDL_MAX + 1];
	uint64_t size3;
	unsigned deleted;

	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md_path, sizeof(md_path), "%s/Maildir", root);
	snprintf(dir_a, sizeof(dir_a), "%s/index-a", root);
	snprintf(dir_b, sizeof(dir_b), "%s/index-b", root);
	snprintf(facts_path, sizeof(facts_path), "%s/satchel.index", md_path);

	/* node A: first open makes the Maildir, its cache and no facts */
	drop = open_on(dir_a, 0);
	maildrop_close(&drop);
	put("1700000001.M1P1.host", "Subject: one\n\nbody one\n");
	put(LONG_BASE, "Subject: two\n\nbody two\n");
	put("1700000003.M3P3.host", "Subject: three\n\nbody three, longer\n");
	set_dirs_old(); /* A records a listing it will trust later */
	drop = open_on(dir_a, 0);
	CHECK(maildrop_count(drop) == 3, "node A lists the three messages");
	m = find(drop, "1700000001.");
	CHECK(m != NULL && m->size == 26, "node A's size of the first");
	m = maildrop_msg(drop, 1);
	CHECK(strlen(m->uidl) == 32 && strchr(m->uidl, '.') == NULL,
	      "node A: the long base gets a digest UIDL");
	snprintf(digest, sizeof(digest), "%s", m->uidl);
	size3 = find(drop, "1700000003.")->size;
	find(drop, "1700000001.")->retrieved = true;
	commit(&drop, &deleted);

	index = cache_of(dir_a);
	CHECK(index != NULL && index_count(index) == 3,
	      "node A's cache in its index_dir holds the three");
	e = index != NULL ? index_lookup(index, "1700000001.M1P1.host") : NULL;
	CHECK(e != NULL && e->retrieved == 0,
	      "node A's cache keeps no retrieval time (a fact)");
	index_free(&index);
	CHECK(cache_of(dir_b) == NULL, "node B has no cache yet");
	CHECK(index_load(facts_path, &index) == 0, "the facts load");
	e = index_lookup(index, "1700000001.M1P1.host");
	CHECK(e != NULL && e->retrieved > 0,
	      "the Maildir's facts: the retrieval time");
	e = index_lookup(index, LONG_BASE);
	CHECK(e != NULL && strncmp(e->uidl, digest, e->uidl_len) == 0,
	      "the Maildir's facts: the digest UIDL");
	CHECK(index_lookup(index, "1700000003.M3P3.host") == NULL,
	      "the Maildir's facts: nothing for a plain message");
	index_free(&index);

	/* node A records a listing of quiet directories in its cache */
	set_dirs_old();
	drop = open_on(dir_a, 0);
	maildrop_close(&drop);
	index = cache_of(dir_a);
	CHECK(index != NULL && index_get_listing(index)->valid,
	      "node A's cache holds a listing it would trust");
	index_free(&index);

	/* node B: the same UIDLs, sizes and retrieval; deletes one */
	drop = open_on(dir_b, 0);
	CHECK(maildrop_count(drop) == 3, "node B lists the three");
	CHECK(strcmp(maildrop_msg(drop, 1)->uidl, digest) == 0,
	      "node B: the same digest UIDL");
	m = find(drop, "1700000001.");
	CHECK(m != NULL && m->seen, "node B: retrieved on node A (seen)");
	CHECK(find(drop, "1700000003.")->size == size3, "node B: the size");
	find(drop, "1700000003.")->deleted = true;
	commit(&drop, &deleted);
	CHECK(deleted == 1, "node B deletes one");
	put("1700000004.M4P4.host", "Subject: four\n\nbody four\n");

	/* node A again: its trusted listing no longer stands */
	drop = open_on(dir_a, 0);
	CHECK(maildrop_count(drop) == 3 && find(drop, "1700000003.") == NULL,
	      "node A: node B's deletion seen despite its cached listing");
	CHECK(find(drop, "1700000004.") != NULL,
	      "node A: the new delivery seen");
	CHECK(strcmp(maildrop_msg(drop, 1)->uidl, digest) == 0 &&
		      find(drop, "1700000001.")->seen,
	      "node A: the digest and the retrieval kept");
	find(drop, "1700000004.")->retrieved = true;
	commit(&drop, &deleted);
	drop = open_on(dir_b, 0);
	CHECK(find(drop, "1700000004.") != NULL &&
		      find(drop, "1700000004.")->seen,
	      "node B: node A's retrieval of the new message");
	maildrop_close(&drop);

	/* EXPIRE counts from the shared time: 3 days ago, node B, 2 days */
	CHECK(index_load(facts_path, &index) == 0, "the facts load again");
	{
		struct index_entry w[8];
		size_t i, n = index_count(index);

		memset(w, 0, sizeof(w));
		for (i = 0; i < n && i < 8; i++) {
			w[i] = *index_entry_at(index, i);
			if (strcmp(w[i].key, "1700000001.M1P1.host") == 0)
				w[i].retrieved = (int64_t)time(NULL) -
						 3 * 86400;
		}
		CHECK(index_write(facts_path, w, n, &(const char *){ NULL }) ==
			      0,
		      "retrieval time put 3 days back");
	}
	index_free(&index);
	drop = open_on(dir_b, 2);
	commit(&drop, &deleted);
	CHECK(deleted == 1, "node B: EXPIRE 2 days removes it");
	drop = open_on(dir_a, 0);
	CHECK(maildrop_count(drop) == 2 && find(drop, "1700000001.") == NULL,
	      "node A: the expired message is gone");
	maildrop_close(&drop);

	/* a Maildir's whole index (before index_dir) is read as facts */
	drop = open_on(NULL, 0);
	find(drop, "1700000004.")->deleted = true;
	maildrop_msg(drop, 0)->retrieved = true;
	commit(&drop, &deleted);
	drop = open_on(dir_b, 0);
	CHECK(maildrop_count(drop) == 1 &&
		      strcmp(maildrop_msg(drop, 0)->uidl, digest) == 0 &&
		      maildrop_msg(drop, 0)->seen,
	      "node B reads an index written without index_dir");
	maildrop_close(&drop);

	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return unit_done();
}
