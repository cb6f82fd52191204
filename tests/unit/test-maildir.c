/* test-maildir.c: Maildir snapshot, sizes, UIDLs, commit, locking. */
#define _XOPEN_SOURCE 700
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
#include "store/msgconv.h"
#include "unit.h"

static char root[] = "/tmp/satchel-maildir-XXXXXX";
static char md_path[512];

static void put(const char *sub, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", md_path, sub, name);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *sub, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s/%s", md_path, sub, name);
	return access(path, F_OK) == 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct maildrop *open_drop(int *ret_r, unsigned expire_days)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = md_path,
		.lock_stale_secs = 300, .expire_days = expire_days,
		.create = true,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;

	*ret_r = maildrop_open(&set, &drop, &error);
	return drop;
}

/* The message as RETR would send it (before stuffing). */
static char *retr(struct maildrop *drop, unsigned idx)
{
	static char out[65536];
	struct maildrop_reader *reader = NULL;
	struct msgconv conv;
	const char *error;
	char buf[4096];
	size_t len = 0, n;
	ssize_t got;

	if (maildrop_reader_open(drop, idx, &reader, &error) != MAILDROP_OK)
		return NULL;
	msgconv_init(&conv, false, -1);
	while ((got = maildrop_reader_read(reader, buf, sizeof(buf))) > 0) {
		size_t pos = 0;

		while (pos < (size_t)got) {
			pos += msgconv_feed(&conv, buf + pos, (size_t)got - pos,
					    out + len, sizeof(out) - len - 1,
					    &n);
			len += n;
		}
	}
	len += msgconv_finish(&conv, out + len, sizeof(out) - len - 1);
	out[len] = '\0';
	maildrop_reader_destroy(&reader);
	return got < 0 ? NULL : out;
}

static const char long_name[] =
	"1700000020.M123456P7890V0000000000000803I0000000000ABCDEF_0."
	"a-rather-long-hostname.example.org";

static void test_missing(void)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = md_path, .create = false,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;
	unsigned deleted = 9;
	int ret;

	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK &&
		      maildrop_count(drop) == 0,
	      "missing Maildir without create: empty");
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 0 && drop == NULL,
	      "commit of an empty drop");
	CHECK(access(md_path, F_OK) < 0, "nothing created");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && exists("new", "") && exists("cur", "") &&
		      exists("tmp", ""),
	      "missing Maildir with create: new/ cur/ tmp/ made");
	maildrop_close(&drop);
	CHECK(drop == NULL, "close sets NULL");
}

static void test_snapshot(void)
{
	struct maildrop *drop, *drop2;
	struct maildrop_msg *m;
	char uidl_long[MAILDROP_UIDL_MAX + 1], uidl_space[MAILDROP_UIDL_MAX + 1];
	char index_path[600];
	int ret;

	put("new", "1700000010.M1P1.host,S=4,W=999", "abc\n");
	put("cur", "1700000002.M2P2.host:2,F", "a\nb\n");
	put("cur", "999999999.x:2,", "x\r\ny");
	put("new", ".hidden", "no");
	put("tmp", "1600000000.tmp", "no");
	put("new", long_name, ".\n");
	put("new", "1700000030 with space", "sp\n");
	put("new", "1700000040.M1,S=3", "z\n");

	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 6,
	      "six messages: tmp/ and dotfiles skipped");
	if (drop == NULL || maildrop_count(drop) != 6)
		return;
	CHECK_STR(maildrop_msg(drop, 0)->uidl, "999999999.x",
		  "natural sort: 999999999 before 1700000002");
	CHECK_STR(maildrop_msg(drop, 1)->uidl, "1700000002.M2P2.host",
		  "UIDL = base name without :2,flags");
	CHECK(maildrop_msg(drop, 0)->size == 6, "CRLF kept, final CRLF added");
	CHECK(maildrop_msg(drop, 1)->size == 6, "size computed from the file");
	CHECK(maildrop_msg(drop, 2)->size == 999, "W= honoured without reading");
	m = maildrop_msg(drop, 3);
	CHECK(strlen(m->uidl) == 32, "over-long base: digest UIDL");
	snprintf(uidl_long, sizeof(uidl_long), "%s", m->uidl);
	m = maildrop_msg(drop, 4);
	CHECK(strlen(m->uidl) == 32 && m->size == 4,
	      "base with a space: digest UIDL");
	snprintf(uidl_space, sizeof(uidl_space), "%s", m->uidl);
	CHECK(maildrop_msg(drop, 5)->size == 3, "S= alone: size computed");
	CHECK_STR(retr(drop, 1), "a\r\nb\r\n", "reader returns the message");
	CHECK(maildrop_open(&(struct maildrop_settings){
				    .kind = MAILDROP_MAILDIR,
				    .path = md_path },
			    &drop2, &(const char *){ NULL }) ==
		      MAILDROP_IN_USE,
	      "second session: IN-USE");
	CHECK(maildrop_refresh_lock(drop) == MAILDROP_OK, "refresh lock");
	maildrop_close(&drop);
	snprintf(index_path, sizeof(index_path), "%s/satchel.index", md_path);
	CHECK(access(index_path, F_OK) == 0, "index written at first open");

	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 6, "reopen");
	CHECK_STR(maildrop_msg(drop, 3)->uidl, uidl_long,
		  "digest UIDL stable across sessions");
	CHECK_STR(maildrop_msg(drop, 4)->uidl, uidl_space,
		  "UIDL of an unindexable name stable");
	CHECK(maildrop_msg(drop, 1)->size == 6, "size from the index");
	maildrop_close(&drop);
}

static bool file_is(const char *path, const char *want)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return strcmp(buf, want) == 0;
}

static void test_commit(void)
{
	char msize[600];
	struct maildrop *drop;
	const char *error = NULL;
	unsigned deleted = 0;
	int ret;

	/* close without commit changes nothing */
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->deleted = true;
	maildrop_msg(drop, 2)->retrieved = true;
	maildrop_close(&drop);
	CHECK(exists("cur", "999999999.x:2,") &&
		      exists("new", "1700000010.M1P1.host,S=4,W=999"),
	      "close without commit: nothing changed");

	/* another program's Maildir++ quota file is kept current */
	snprintf(msize, sizeof(msize), "%s/maildirsize", md_path);
	put("", "maildirsize", "100S\n0 0\n");
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->deleted = true;
	maildrop_msg(drop, 1)->retrieved = true;          /* cur :2,F */
	maildrop_msg(drop, 2)->retrieved = true;          /* new */
	ret = maildrop_commit(&drop, &deleted, &error);
	CHECK(ret == MAILDROP_OK && deleted == 1 && drop == NULL,
	      "commit: one deleted");
	CHECK(!exists("cur", "999999999.x:2,"), "DELE applied at commit");
	CHECK(file_is(msize, "100S\n0 0\n-4 -1\n"),
	      "commit appends the removal to maildirsize (size by stat)");
	CHECK(exists("cur", "1700000002.M2P2.host:2,FS"),
	      "cur :2,F -> :2,FS (sorted)");
	CHECK(exists("cur", "1700000010.M1P1.host,S=4,W=999:2,S") &&
		      !exists("new", "1700000010.M1P1.host,S=4,W=999"),
	      "new -> cur with :2,S");

	drop = open_drop(&ret, 0);
	CHECK(maildrop_count(drop) == 5 &&
		      strcmp(maildrop_msg(drop, 0)->uidl,
			     "1700000002.M2P2.host") == 0,
	      "UIDL unchanged after the move to cur/");
	maildrop_msg(drop, 0)->retrieved = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      exists("cur", "1700000002.M2P2.host:2,FS"),
	      "S flag not doubled");

	/* a file that vanished before commit is not an error */
	drop = open_drop(&ret, 0);
	unlink(strcat(strcat(strcpy((char[1024]){ 0 }, md_path), "/cur/"),
		      "1700000002.M2P2.host:2,FS"));
	maildrop_msg(drop, 0)->deleted = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 0,
	      "vanished file: commit OK, nothing counted");
	CHECK(file_is(msize, "100S\n0 0\n-4 -1\n"),
	      "nothing removed: maildirsize unchanged");
	unlink(msize);
}

static void test_expire(void)
{
	struct maildrop *drop;
	struct index_entry e[8];
	const char *error = NULL;
	char index_path[600];
	unsigned deleted = 0, i, n;
	int ret;

	/* the message retrieved earlier keeps its recorded time */
	drop = open_drop(&ret, 0);
	n = maildrop_count(drop);
	memset(e, 0, sizeof(e));
	for (i = 0; i < n && i < 8; i++) {
		e[i].key = maildrop_msg(drop, i)->uidl;
		e[i].size = maildrop_msg(drop, i)->size;
		e[i].uidl = maildrop_msg(drop, i)->uidl;
		e[i].retrieved = 0;
	}
	/* retrieved 3 days ago */
	e[0].key = "1700000010.M1P1.host,S=4,W=999";
	e[0].retrieved = (int64_t)time(NULL) - 3 * 86400;
	snprintf(index_path, sizeof(index_path), "%s/satchel.index", md_path);
	CHECK(strcmp(maildrop_msg(drop, 0)->uidl, e[0].key) == 0,
	      "expire: first message is the retrieved one");
	index_write(index_path, e, n, &error);
	maildrop_close(&drop);

	drop = open_drop(&ret, 5);
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 0,
	      "EXPIRE 5 days: 3-day-old retrieval kept");
	drop = open_drop(&ret, 2);
	CHECK(maildrop_count(drop) == n, "expire: nothing lost");
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 1 &&
		      !exists("cur", "1700000010.M1P1.host,S=4,W=999:2,S"),
	      "EXPIRE 2 days: 3-day-old retrieval deleted");

	/* retrieval time recorded at commit, then expires later */
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->retrieved = true;
	maildrop_commit(&drop, &deleted, &error);
	drop = open_drop(&ret, 1);
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 0,
	      "fresh retrieval not expired");
}

/* Sets the mtime of sub-directory sub to sec.nsec. */
static void set_mtime(const char *sub, time_t sec, long nsec)
{
	char path[1024];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, nsec } };

	snprintf(path, sizeof(path), "%s/%s", md_path, sub);
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		abort();
}

static struct timespec get_mtime(const char *sub)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", md_path, sub);
	if (stat(path, &st) < 0)
		abort();
	return st.st_mtim;
}

static bool index_has(const char *text)
{
	static char buf[65536];
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/satchel.index", md_path);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static unsigned count_drop(void)
{
	struct maildrop *drop;
	unsigned n;
	int ret;

	drop = open_drop(&ret, 0);
	if (ret != MAILDROP_OK)
		return 999999;
	n = maildrop_count(drop);
	maildrop_close(&drop);
	return n;
}

/* The recorded listing (docs/store.md): reused while new/ and cur/ keep
 * the recorded inode and mtime and that mtime was old enough when read;
 * read again otherwise. Files are added behind the store's back with the
 * mtime put back, which only the reuse can miss. */
static void test_listing(void)
{
	time_t old = time(NULL) - 100;
	struct timespec recent;
	struct maildrop *drop;
	char path[1024];
	int ret;

	rm_tree(md_path);
	drop = open_drop(&ret, 0);
	maildrop_close(&drop);
	put("new", "1700000001.a", "one\n");
	put("new", "1700000002.b", "two\n");
	put("cur", "1700000003.c:2,S", "three\n");
	set_mtime("new", old, 5);
	set_mtime("cur", old, 7);
	CHECK(count_drop() == 3, "listing: first open reads the dirs");
	CHECK(index_has("satchel-index 3\nlisting ") &&
		      !index_has("listing -") && index_has("n -\n") &&
		      index_has("1700000003.c 7  0 c:2,S -\n"),
	      "listing: recorded with old dir mtimes");

	put("new", "1700000004.d", "sneaky\n");
	set_mtime("new", old, 5);
	CHECK(count_drop() == 3,
	      "listing: reused while the dirs are unchanged and old");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 3 &&
		      strcmp(maildrop_msg(drop, 2)->uidl, "1700000003.c") == 0 &&
		      maildrop_msg(drop, 2)->size == 7 &&
		      maildrop_msg(drop, 0)->size == 5,
	      "listing: order, sizes and UIDLs from the listing");
	CHECK_STR(retr(drop, 2), "three\r\n", "listing: message readable");
	maildrop_close(&drop);

	set_mtime("new", old, 6); /* any other mtime */
	CHECK(count_drop() == 4, "listing: read again when new/ mtime differs");

	put("cur", "1700000005.e:2,", "five\n"); /* mtime now: recent */
	CHECK(count_drop() == 5, "listing: a file added to cur/ is seen");
	recent = get_mtime("cur");
	put("cur", "1700000006.f:2,", "six\n");
	set_mtime("cur", recent.tv_sec, recent.tv_nsec);
	CHECK(count_drop() == 6,
	      "listing: a recent mtime is never trusted, even unchanged");

	/* retrieval moves new -> cur: next open sees the new names */
	set_mtime("new", old, 1);
	set_mtime("cur", old, 2);
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->retrieved = true;
	maildrop_commit(&drop, &(unsigned){ 0 }, &(const char *){ NULL });
	CHECK(exists("cur", "1700000001.a:2,S") && count_drop() == 6,
	      "listing: commit's renames seen by the next open");
	drop = open_drop(&ret, 0);
	CHECK(drop != NULL && maildrop_count(drop) == 6 &&
		      retr(drop, 0) != NULL &&
		      strcmp(retr(drop, 0), "one\r\n") == 0,
	      "listing: moved message readable");
	maildrop_close(&drop);

	/* the directory replaced (other inode), same mtime */
	set_mtime("new", old, 3);
	set_mtime("cur", old, 4);
	CHECK(count_drop() == 6, "listing: recorded again");
	{
		char other[1100];

		/* made while the old one exists: surely another inode */
		snprintf(path, sizeof(path), "%s/new", md_path);
		snprintf(other, sizeof(other), "%s/new.other", md_path);
		if (mkdir(other, 0700) < 0)
			abort();
		rm_tree(path);
		if (rename(other, path) < 0)
			abort();
	}
	set_mtime("new", old, 3);
	CHECK(count_drop() == 4, "listing: another inode is read again");

	/* version 1 index: loaded (retrieval time kept), rewritten as 2 */
	snprintf(path, sizeof(path), "%s/satchel.index", md_path);
	{
		FILE *f = fopen(path, "w");

		if (f == NULL)
			abort();
		fputs("satchel-index 1\n1700000003.c 7 1700000003.c "
		      "1700000123\n", f);
		fclose(f);
	}
	set_mtime("new", old, 3);
	set_mtime("cur", old, 4);
	CHECK(count_drop() == 4 && index_has("satchel-index 3\n") &&
		      index_has("1700000003.c 7  1700000123 c:2,S -\n"),
	      "listing: version 1 index rebuilt, retrieval time kept");
	CHECK(count_drop() == 4 && index_has("listing ") &&
		      !index_has("listing -"),
	      "listing: rebuilt index carries a listing");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100,000 messages: cold (no index: every file read) and warm opens. */
static void bench(bool with_w)
{
	struct maildrop *drop;
	char name[256];
	unsigned i;
	double t0, t1, t2;
	int ret;

	rm_tree(md_path);
	drop = open_drop(&ret, 0);
	maildrop_close(&drop);
	for (i = 0; i < 100000; i++) {
		if (with_w)
			snprintf(name, sizeof(name),
				 "%u.M%uP4242.bench.example,S=120,W=124",
				 1700000000 + i, i);
		else
			snprintf(name, sizeof(name),
				 "%u.M%uP4242.bench.example", 1700000000 + i,
				 i);
		put(i % 2 ? "cur" : "new", name,
		    "From: a@example\nTo: b@example\nSubject: bench\n\n"
		    "Hello, this is a benchmark message body of a few "
		    "bytes.\n");
	}
	t0 = now_s();
	drop = open_drop(&ret, 0);
	t1 = now_s();
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 100000,
	      "bench: 100,000 messages");
	maildrop_close(&drop);
	t2 = now_s();
	drop = open_drop(&ret, 0);
	printf("# 100000 msgs%s: cold open %.3f s, warm open %.3f s\n",
	       with_w ? " (,W= names)" : "", t1 - t0, now_s() - t2);
	maildrop_close(&drop);
}

int main(int argc, char **argv)
{
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md_path, sizeof(md_path), "%s/Maildir", root);
	test_missing();
	test_snapshot();
	test_commit();
	test_expire();
	test_listing();
	if (argc > 1 && strcmp(argv[1], "bench") == 0) {
		bench(false);
		bench(true);
	}
	rm_tree(root);
	return unit_done();
}
