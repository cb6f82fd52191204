/* test-dedup.c: delivery ids (dedup.c): seen and not seen, expiry,
 * broken lines, pending entries, two processes racing with one id,
 * compaction, the id digest. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/dedup.h"
#include "store/store_limits.h"
#include "unit.h"

static char root[] = "/tmp/satchel-dedup-XXXXXX";

static void make_id(unsigned n, char *id)
{
	snprintf(id, DEDUP_ID_HEX + 1, "%032x", n);
}

/* Writes count lines "id epoch" for ids from first, epoch now - age. */
static void add_lines(const char *path, unsigned first, unsigned count,
		      time_t age)
{
	FILE *f = fopen(path, "a");
	char id[DEDUP_ID_HEX + 1];
	unsigned i;

	if (f == NULL)
		abort();
	for (i = 0; i < count; i++) {
		make_id(first + i, id);
		fprintf(f, "%s %lld\n", id, (long long)(time(NULL) - age));
	}
	fclose(f);
}

static unsigned count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[256];
	unsigned n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += needle == NULL || strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static bool is_done(struct dedup *d, const char *id, unsigned days)
{
	char name[DEDUP_NAME_MAX + 1];

	return dedup_lookup(d, id, days, name, sizeof(name)) == DEDUP_DONE;
}

static bool seen_once(const char *path, const char *id, unsigned days)
{
	struct dedup *d = NULL;
	const char *error = NULL;
	bool seen;

	if (dedup_open(path, &d, &error) < 0) {
		printf("# open: %s\n", error);
		return false;
	}
	seen = is_done(d, id, days);
	dedup_close(&d);
	return seen;
}

static void test_seen(void)
{
	char path[256], id[DEDUP_ID_HEX + 1], other[DEDUP_ID_HEX + 1];
	struct dedup *d = NULL;
	const char *error = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/satchel.delivered", root);
	make_id(1, id);
	make_id(2, other);
	CHECK(dedup_open(path, &d, &error) == 0, "open creates the file");
	CHECK(stat(path, &st) == 0 && st.st_size == 0, "empty at first");
	CHECK(!is_done(d, id, 7), "new id: not seen");
	CHECK(dedup_record(d, id, NULL, &error) == 0, "record");
	CHECK(is_done(d, id, 7), "seen on the same handle");
	dedup_close(&d);
	CHECK(d == NULL, "close clears the pointer");
	CHECK(seen_once(path, id, 7), "seen after reopen");
	CHECK(!seen_once(path, other, 7), "another id: not seen");
	CHECK(!seen_once(path, id, 0), "days 0: never seen");
	CHECK(dedup_open(path, &d, &error) == 0 &&
	      dedup_record(d, "not-an-id", NULL, &error) < 0,
	      "an invalid id is refused");
	dedup_close(&d);
	CHECK(count_lines(path, NULL) == 1, "one line in the file");
}

/* A pending entry (before the link into new/) names the file; a done
 * entry after it wins; names that could not be Maildir names are not
 * entries. */
static void test_pending(void)
{
	char path[256], id[DEDUP_ID_HEX + 1], name[DEDUP_NAME_MAX + 1];
	char small[4];
	struct dedup *d = NULL;
	const char *error = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pending.delivered", root);
	make_id(7, id);
	CHECK(dedup_open(path, &d, &error) == 0, "open");
	CHECK(dedup_record(d, id, "1700000000.M1P2.host,S=10,W=11", &error) ==
		      0, "record pending");
	CHECK(dedup_lookup(d, id, 7, name, sizeof(name)) == DEDUP_PENDING &&
		      strcmp(name, "1700000000.M1P2.host,S=10,W=11") == 0,
	      "pending, with its name, on the same handle");
	CHECK(dedup_record(d, id, "second.name", &error) == 0,
	      "a second pending name (link found the first taken)");
	CHECK(dedup_record(d, id, "bad:name", &error) < 0 &&
		      dedup_record(d, id, "bad name", &error) < 0 &&
		      dedup_record(d, id, "", &error) < 0,
	      "names with a colon, a blank or nothing are refused");
	dedup_close(&d);
	CHECK(dedup_open(path, &d, &error) == 0 &&
		      dedup_lookup(d, id, 7, name, sizeof(name)) ==
			      DEDUP_PENDING &&
		      strcmp(name, "second.name") == 0,
	      "after reopen: pending with the newest name");
	CHECK(dedup_lookup(d, id, 7, small, sizeof(small)) == DEDUP_NEW,
	      "a name longer than the caller's buffer is not reported");
	CHECK(dedup_record(d, id, NULL, &error) == 0, "record done");
	dedup_close(&d);
	CHECK(seen_once(path, id, 7), "done after pending: done");
	CHECK(count_lines(path, NULL) == 3, "two pending lines and a done one");

	snprintf(path, sizeof(path), "%s/pendjunk.delivered", root);
	f = fopen(path, "w");
	make_id(8, id);
	fprintf(f, "%s %lld a/b\n%s %lld \n%s  name\n", id,
		(long long)time(NULL), id, (long long)time(NULL), id);
	fclose(f);
	CHECK(dedup_open(path, &d, &error) == 0 &&
		      dedup_lookup(d, id, 7, name, sizeof(name)) == DEDUP_NEW,
	      "a slash, an empty name or no epoch: not entries");
	dedup_close(&d);
}

/* A lookup searches the raw text: an id only counts at a line's start,
 * and a big file is searched, not parsed (the time is printed). */
static void test_big_file_lookup(void)
{
	char path[256], id[DEDUP_ID_HEX + 1], name[DEDUP_NAME_MAX + 1];
	struct dedup *d = NULL;
	const char *error = NULL;
	struct timespec t0, t1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/big.delivered", root);
	add_lines(path, 1000, 40000, 3600);
	f = fopen(path, "a");
	make_id(99, id);
	/* the id inside another entry's name is not an entry of it */
	fprintf(f, "%032x %lld x%s\n", 5u, (long long)time(NULL), id);
	fclose(f);
	CHECK(dedup_open(path, &d, &error) == 0, "open a 40,001-line file");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	make_id(1000 + 39999, id);
	CHECK(dedup_lookup(d, id, 7, name, sizeof(name)) == DEDUP_DONE,
	      "the last entry of a big file is found");
	make_id(99, id);
	CHECK(dedup_lookup(d, id, 7, name, sizeof(name)) == DEDUP_NEW,
	      "an id inside another line is no entry");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# two lookups in 40,001 lines: %.3f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	CHECK(dedup_record(d, id, NULL, &error) == 0, "record into it");
	dedup_close(&d);
	CHECK(count_lines(path, NULL) == 40002,
	      "no compaction: no old entries at its start");
}

static void test_expiry_and_junk(void)
{
	char path[256], id[DEDUP_ID_HEX + 1];
	FILE *f;

	snprintf(path, sizeof(path), "%s/old.delivered", root);
	add_lines(path, 100, 3, 8 * 86400);     /* 8 days old */
	add_lines(path, 200, 3, 6 * 86400);     /* 6 days old */
	make_id(100, id);
	CHECK(!seen_once(path, id, 7), "8 days old, kept 7: expired");
	CHECK(seen_once(path, id, 9), "8 days old, kept 9: seen");
	make_id(201, id);
	CHECK(seen_once(path, id, 7), "6 days old, kept 7: seen");

	snprintf(path, sizeof(path), "%s/junk.delivered", root);
	f = fopen(path, "w");
	make_id(300, id);
	fprintf(f, "garbage line\n%s\n%s x\n%s 12junk\n \n", id, id, id);
	make_id(301, id);
	fprintf(f, "%s %lld\n", id, (long long)time(NULL));
	make_id(302, id);
	/* a line cut by a crash, no LF */
	fprintf(f, "%s %lld", id, (long long)time(NULL));
	fclose(f);
	make_id(300, id);
	CHECK(!seen_once(path, id, 7), "broken lines are not entries");
	make_id(301, id);
	CHECK(seen_once(path, id, 7), "a good line among junk is read");
	{
		struct dedup *d = NULL;
		const char *error = NULL;

		make_id(303, id);
		CHECK(dedup_open(path, &d, &error) == 0 &&
		      dedup_record(d, id, NULL, &error) == 0,
		      "record after a cut line");
		dedup_close(&d);
		CHECK(seen_once(path, id, 7),
		      "the record after a cut line is on a line of its own");
	}
}

/* Two processes deliver the same message at once: each opens, checks,
 * and records only when not seen. Exactly one must record. */
static void test_race(void)
{
	char path[256], id[DEDUP_ID_HEX + 1];
	int go[2], i, recorded = 0, round;

	snprintf(path, sizeof(path), "%s/race.delivered", root);
	for (round = 0; round < 20; round++) {
		pid_t pids[2];

		make_id(1000 + (unsigned)round, id);
		if (pipe(go) < 0)
			abort();
		for (i = 0; i < 2; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				struct dedup *d = NULL;
				const char *error = NULL;
				char c;
				int rc = 2;

				close(go[1]);
				if (read(go[0], &c, 1) != 0)
					_exit(3);
				if (dedup_open(path, &d, &error) < 0)
					_exit(3);
				if (!is_done(d, id, 7)) {
					usleep(2000); /* widen the window */
					rc = dedup_record(d, id, NULL, &error) == 0 ?
						     1 : 3;
				}
				dedup_close(&d);
				_exit(rc);
			}
		}
		close(go[0]);
		close(go[1]); /* both start now */
		for (i = 0; i < 2; i++) {
			int status;

			waitpid(pids[i], &status, 0);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
				recorded++;
		}
		if (count_lines(path, id) != 1)
			break;
	}
	CHECK(round == 20 && recorded == 20,
	      "two racing processes: exactly one records, 20 rounds");
}

static void test_compaction(void)
{
	char path[256], id[DEDUP_ID_HEX + 1];
	struct dedup *d = NULL;
	const char *error = NULL;
	struct stat before, after;

	snprintf(path, sizeof(path), "%s/compact.delivered", root);
	add_lines(path, 0, 2000, 10 * 86400);     /* old: dropped */
	add_lines(path, 5000, 10, 3600);          /* fresh: kept */
	stat(path, &before);
	make_id(9999, id);
	CHECK(dedup_open(path, &d, &error) == 0 && !is_done(d, id, 7) &&
	      dedup_record(d, id, NULL, &error) == 0, "record into an old file");
	dedup_close(&d);
	stat(path, &after);
	CHECK(count_lines(path, NULL) == 11,
	      "compacted: 10 fresh ids and the new one");
	CHECK(before.st_ino != after.st_ino, "compaction replaced the file");
	CHECK(seen_once(path, id, 7), "the new id is seen after compaction");
	make_id(5009, id);
	CHECK(seen_once(path, id, 7), "a fresh id survives compaction");
	make_id(0, id);
	CHECK(!seen_once(path, id, 30), "an old id is gone (even for 30 days)");
	CHECK((after.st_mode & 0777) == 0600, "mode 0600 after compaction");

	/* a second record on the same handle appends to the new file */
	snprintf(path, sizeof(path), "%s/compact2.delivered", root);
	add_lines(path, 0, 2000, 10 * 86400);
	make_id(7000, id);
	CHECK(dedup_open(path, &d, &error) == 0 && !is_done(d, id, 7) &&
	      dedup_record(d, id, NULL, &error) == 0, "record (compacts)");
	make_id(7001, id);
	CHECK(dedup_record(d, id, NULL, &error) == 0, "second record, same handle");
	dedup_close(&d);
	CHECK(count_lines(path, NULL) == 2 && seen_once(path, id, 7),
	      "the second record went to the compacted file");
}

static void test_bound(void)
{
	char path[256], id[DEDUP_ID_HEX + 1];
	struct dedup *d = NULL;
	const char *error = NULL;

	snprintf(path, sizeof(path), "%s/full.delivered", root);
	add_lines(path, 0, DEDUP_MAX_ENTRIES, 60);    /* all fresh */
	make_id(DEDUP_MAX_ENTRIES + 1, id);
	CHECK(dedup_open(path, &d, &error) == 0 && !is_done(d, id, 7) &&
	      dedup_record(d, id, NULL, &error) == 0, "record into a full file");
	dedup_close(&d);
	CHECK(count_lines(path, NULL) == DEDUP_MAX_ENTRIES / 2 + 1,
	      "full: the newest half kept");
	CHECK(seen_once(path, id, 7), "full: the new id is kept");
	make_id(DEDUP_MAX_ENTRIES - 1, id);
	CHECK(seen_once(path, id, 7), "full: the newest old id is kept");
	make_id(0, id);
	CHECK(!seen_once(path, id, 7), "full: the oldest id is dropped");
}

static struct timespec deadline_in(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static double secs_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Another delivery holds the maildrop's id lock: a bounded open gives up
 * at its deadline, and gets it once the holder is done. */
static void test_lock_deadline(void)
{
	struct timespec t0, deadline;
	struct dedup *d = NULL;
	const char *error = NULL;
	char path[256], c;
	int ready[2], r;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/held.delivered", root);
	if (pipe(ready) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (dedup_open(path, &d, &error) < 0 ||
		    write(ready[1], "r", 1) != 1)
			_exit(2);
		usleep(800 * 1000);
		dedup_close(&d);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		abort();
	close(ready[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	deadline = deadline_in(200);
	r = dedup_open_until(path, &deadline, &d, &error);
	CHECK(r < 0 && secs_since(&t0) >= 0.19 && secs_since(&t0) < 3,
	      "held lock: a bounded open gives up at its deadline");
	CHECK(r < 0 && strstr(error, "timed out") != NULL,
	      "held lock: the error says so");
	deadline = deadline_in(5000);
	CHECK(dedup_open_until(path, &deadline, &d, &error) == 0 &&
	      secs_since(&t0) >= 0.5,
	      "held lock: taken once the holder is done");
	dedup_close(&d);
	waitpid(pid, NULL, 0);
}

static void test_make_id(void)
{
	unsigned char body[DEDUP_BODY_DIGEST];
	char a[DEDUP_ID_HEX + 1], b[DEDUP_ID_HEX + 1];
	char c[DEDUP_ID_HEX + 1], e[DEDUP_ID_HEX + 1];

	memset(body, 0x5a, sizeof(body));
	dedup_make_id(body, "s@x", "r@y", "<m@z>", a);
	dedup_make_id(body, "s@x", "r@y", "<m@z>", b);
	CHECK(strlen(a) == DEDUP_ID_HEX && strcmp(a, b) == 0,
	      "id: 32 hex, stable");
	dedup_make_id(body, "s@x", "r@y2", "<m@z>", c);
	CHECK(strcmp(a, c) != 0, "id: depends on the recipient");
	/* "ab"+"c" vs "a"+"bc": the length prefix keeps them apart */
	dedup_make_id(body, "ab", "c", "", c);
	dedup_make_id(body, "a", "bc", "", e);
	CHECK(strcmp(c, e) != 0, "id: parts are length-prefixed");
	body[31] ^= 1;
	dedup_make_id(body, "s@x", "r@y", "<m@z>", c);
	CHECK(strcmp(a, c) != 0, "id: depends on the body digest");
	dedup_make_id(body, NULL, "r@y", NULL, c);
	dedup_make_id(body, "", "r@y", "", e);
	CHECK(strcmp(c, e) == 0, "id: NULL is the empty string");
	/* a known answer, so the digest cannot change silently (stored ids
	 * would stop matching after an upgrade) */
	memset(body, 0, sizeof(body));
	dedup_make_id(body, "", "", "", a);
	printf("# id of zero body, empty parts: %s\n", a);
	CHECK_STR(a, "d4817aa5497628e7c77e6b606107042b",
		  "id: known answer");
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		abort();
	test_seen();
	test_pending();
	test_big_file_lookup();
	test_expiry_and_junk();
	test_race();
	test_compaction();
	test_bound();
	test_lock_deadline();
	test_make_id();
	if (unit_failures == 0) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", root);
	}
	return unit_done();
}
