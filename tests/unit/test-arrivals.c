/* test-arrivals.c: the reader's index kept current at delivery: the next
 * POP3 session finds delivered mail through the arrivals log without
 * reading new/, and never misses mail the log does not vouch for (a
 * crashed delivery, a file linked by another program). */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/arrivals.h"
#include "store/delivery.h"
#include "store/maildrop.h"
#include "unit.h"

static char root[] = "/tmp/satchel-arrivals-XXXXXX";
static char md_path[600];

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

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

static void set_mtime(const char *sub, struct timespec ts)
{
	char path[1024];
	struct timespec t[2] = { { 0, UTIME_OMIT }, ts };

	snprintf(path, sizeof(path), "%s/%s", md_path, sub);
	if (utimensat(AT_FDCWD, path, t, 0) < 0)
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

static struct maildrop *open_drop(void)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = md_path,
		.lock_stale_secs = 300, .create = true,
	};
	struct maildrop *drop = NULL;
	const char *error;

	if (maildrop_open(&set, &drop, &error) != MAILDROP_OK)
		return NULL;
	return drop;
}

static unsigned count_drop(void)
{
	struct maildrop *drop = open_drop();
	unsigned n;

	if (drop == NULL)
		return 99999;
	n = maildrop_count(drop);
	maildrop_close(&drop);
	return n;
}

static off_t log_size(void)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", md_path, ARRIVALS_NAME);
	return stat(path, &st) < 0 ? -1 : st.st_size;
}

static void append_log(const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", md_path, ARRIVALS_NAME);
	f = fopen(path, "a");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static int deliver(const char *msg)
{
	struct delivery_settings set = {
		.deadline_secs = 10, .hostname = "mx.example",
	};
	struct delivery_envelope env = { "a@b", NULL, true };
	struct delivery_target t = {
		.user = "u", .rcpt = "u@x", .kind = MAILDROP_MAILDIR,
		.path = md_path,
	};
	struct delivery_spool *spool = NULL;
	struct delivery_result res;
	const char *error;
	int ret = -1;

	if (delivery_spool_create(&set, &spool, &error) == 0 &&
	    delivery_spool_write(spool, msg, strlen(msg), &error) == 0 &&
	    delivery_spool_finish(spool, &env, &res) == 0 &&
	    delivery_store(spool, &t, &res) == DELIVERY_OK)
		ret = 0;
	delivery_spool_destroy(&spool);
	return ret;
}

/* A Maildir with two old messages and a trusted listing (dir mtimes
 * 2 hours old, so the listing rule of docs/store.md holds). */
static void setup(void)
{
	struct timespec old = { time(NULL) - 2 * ARRIVALS_TRUST_SECS, 5 };
	struct maildrop *drop;

	nftw(md_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	drop = open_drop();
	maildrop_close(&drop);
	put("new", "1700000001.a,S=4,W=5", "one\n");
	put("cur", "1700000002.b,S=4,W=5:2,S", "two\n");
	set_mtime("new", old);
	set_mtime("cur", old);
	count_drop(); /* reads the dirs, records the listing */
}

static void test_next_session_uses_log(void)
{
	struct maildrop *drop;
	struct timespec after;
	bool sizes_ok = true;
	unsigned i;

	setup();
	CHECK(count_drop() == 2, "log: the listing is trusted before mail");
	CHECK(deliver("Subject: one\n\nbody\n") == 0 &&
		      deliver("Subject: two\n\nbody two\n") == 0,
	      "log: two deliveries");
	CHECK(log_size() > 0, "log: deliveries wrote the arrivals log");
	/* A file only a readdir can find, with new/'s mtime put back:
	 * seen only if the session reads new/. */
	after = get_mtime("new");
	put("new", "1700000009.sneaky,S=4,W=5", "snk\n");
	set_mtime("new", after);
	drop = open_drop();
	CHECK(drop != NULL && maildrop_count(drop) == 4,
	      "log: next session has both deliveries and did not read new/");
	for (i = 0; drop != NULL && i < maildrop_count(drop); i++)
		sizes_ok = sizes_ok && maildrop_msg(drop, i)->size > 0 &&
			   strstr(maildrop_msg(drop, i)->uidl, "sneaky") ==
				   NULL;
	CHECK(sizes_ok, "log: sizes and UIDLs from the log's names");
	maildrop_close(&drop);
	CHECK(count_drop() == 4, "log: trusted again by the session after");

	/* a POP3 session's own change to new/ (retrieval) breaks it */
	drop = open_drop();
	maildrop_msg(drop, 0)->retrieved = true;
	maildrop_commit(&drop, &(unsigned){ 0 }, &(const char *){ NULL });
	CHECK(count_drop() == 5, "log: after a commit the dirs are read");
}

static void test_crash_is_seen(void)
{
	struct timespec after;
	char line[256];

	setup();
	CHECK(deliver("Subject: one\n\nbody\n") == 0, "crash: one delivery");
	/* A delivery killed after link(), before its line was ended: the
	 * first half of the line, and the file in new/ with new/'s mtime
	 * as it was (the worst case: the same tick as the last one). */
	after = get_mtime("new");
	snprintf(line, sizeof(line), "1700000010.crashed,S=4,W=5 5 %lld.%09ld ",
		 (long long)after.tv_sec, after.tv_nsec);
	append_log(line);
	put("new", "1700000010.crashed,S=4,W=5", "crs\n");
	set_mtime("new", after);
	CHECK(count_drop() == 4,
	      "crash: a linked file with an unended log line is seen");

	/* a file linked without any log line (another MDA): new/'s mtime
	 * moves, so the chain does not reach it */
	setup();
	CHECK(deliver("Subject: one\n\nbody\n") == 0, "foreign: one delivery");
	after = get_mtime("new");
	put("new", "1700000011.foreign,S=4,W=5", "frn\n");
	after.tv_nsec = (after.tv_nsec + 1000000) % 1000000000;
	set_mtime("new", after);
	CHECK(count_drop() == 4, "foreign: a file linked by another MDA is "
				 "seen");
}

static void test_truncation(void)
{
	setup();
	deliver("Subject: one\n\nbody\n");
	CHECK(log_size() > 0, "truncate: log written");
	/* new/ changed behind the log: the next session reads the dirs;
	 * once they are quiet, it records a listing and empties the log */
	set_mtime("new", (struct timespec){ time(NULL) - 50, 7 });
	CHECK(count_drop() == 3 && log_size() == 0,
	      "truncate: a session that read the dirs empties the log");
	deliver("Subject: two\n\nbody\n");
	CHECK(count_drop() == 4 && log_size() > 0,
	      "truncate: the log chains from the new listing");

	/* a broken log is never trusted: the dirs are read */
	append_log("-\n");
	put("new", "1700000012.x,S=4,W=5", "xxx\n");
	CHECK(count_drop() == 5, "truncate: a break marker forces a read");
}

/* Two processes delivering at once: every message is there, and the
 * log still chains (the flock orders the deliveries' stamps). */
static void test_concurrent(void)
{
	struct timespec after;
	int p, i;

	setup();
	for (p = 0; p < 2; p++) {
		if (fork() == 0) {
			for (i = 0; i < 25; i++) {
				if (deliver("Subject: c\n\nbody\n") < 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	{
		int status, ok = 1;

		while (wait(&status) > 0)
			ok = ok && WIFEXITED(status) &&
			     WEXITSTATUS(status) == 0;
		CHECK(ok, "concurrent: 2 x 25 deliveries OK");
	}
	after = get_mtime("new");
	put("new", "1700000013.sneaky,S=4,W=5", "snk\n");
	set_mtime("new", after);
	CHECK(count_drop() == 52,
	      "concurrent: all 50 seen through the log, new/ not read");
}

/* Moves the time the recorded listing was read back by secs. */
static void age_listing(long secs)
{
	char path[1024], buf[65536], *p;
	long long v[9];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/satchel.index", md_path);
	f = fopen(path, "r");
	if (f == NULL)
		abort();
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, "\nlisting ");
	if (p == NULL || sscanf(p + 9, "%lld %lld %lld %lld %lld %lld %lld "
				"%lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
				&v[5], &v[6], &v[7], &v[8]) != 9)
		abort();
	f = fopen(path, "w");
	fprintf(f, "%.*s\nlisting %lld %lld %lld %lld %lld %lld %lld %lld "
		"%lld%s", (int)(p - buf), buf, v[0], v[1], v[2], v[3], v[4],
		v[5], v[6] - secs, v[7], v[8], strchr(p + 1, '\n'));
	fclose(f);
}

/* A listing read more than ARRIVALS_TRUST_SECS ago is not extended by
 * the log: the directories are read (the bound on what the log cannot
 * see, docs/store.md). */
static void test_trust_bound(void)
{
	struct timespec after;

	setup();
	CHECK(deliver("Subject: one\n\nbody\n") == 0, "bound: one delivery");
	after = get_mtime("new");
	put("new", "1700000014.sneaky,S=4,W=5", "snk\n");
	set_mtime("new", after);
	CHECK(count_drop() == 3, "bound: a fresh listing is extended");
	age_listing(ARRIVALS_TRUST_SECS + 10);
	CHECK(count_drop() == 4, "bound: an old listing is not: dirs read");
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md_path, sizeof(md_path), "%s/Maildir", root);
	test_next_session_uses_log();
	test_crash_is_seen();
	test_truncation();
	test_concurrent();
	test_trust_bound();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return unit_done();
}
