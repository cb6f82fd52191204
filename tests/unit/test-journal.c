/* test-journal.c: the fetch client's journal (journal.c): records, what
 * a crash leaves (torn tail, zeros, junk), reopening, forgetting,
 * compaction, the lock, the state directory, and 100000 entries. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch/journal.h"
#include "unit.h"

static char dir[] = "/tmp/test-journal.XXXXXX";

static void append_raw(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void test_records(void)
{
	struct journal *j = NULL;
	const char *error = "";
	char path[300];
	time_t when = 0;

	snprintf(path, sizeof(path), "%s/a/b/acct.journal", dir);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK,
	      "open: creates the missing directories");
	{
		struct stat st;
		char d[300];

		snprintf(d, sizeof(d), "%s/a/b", dir);
		CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700,
		      "open: the state directory is 0700");
	}
	CHECK(journal_add(j, "uid-1", 5, 1000, &error) == 0 &&
		      journal_add(j, "uid-2", 5, 2000, &error) == 0 &&
		      journal_add(j, "uid-1", 5, 3000, &error) == 0 &&
		      journal_count(j) == 2,
	      "add: twice the same is once");
	CHECK(journal_add(j, "bad uid", 7, 1, &error) < 0 &&
		      journal_add(j, "", 0, 1, &error) < 0,
	      "add: invalid UIDLs refused");
	CHECK(journal_has(j, "uid-1", 5, &when) && when == 1000,
	      "has: first seen kept");
	CHECK(journal_forget(j, "uid-2", 5, &error) == 0 &&
		      !journal_has(j, "uid-2", 5, NULL) && journal_count(j) == 1,
	      "forget");
	CHECK(journal_sync(j, &error) == 0, "sync");
	journal_close(&j);
	CHECK(j == NULL, "close sets NULL");
	/* what a crash can leave at the end */
	append_raw(path, "\0\0\0\0\n", 5);
	append_raw(path, "garbage line\n+ x y\n- \n+ 12 \n", 28);
	append_raw(path, "+ 5000 uid-3\n+ 6000 uid-", 24);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK &&
		      journal_has(j, "uid-1", 5, NULL) &&
		      !journal_has(j, "uid-2", 5, NULL) &&
		      journal_has(j, "uid-3", 5, &when) && when == 5000 &&
		      !journal_has(j, "uid-", 4, NULL) && journal_count(j) == 2,
	      "reopen: junk, zeros and the torn tail skipped");
	CHECK(journal_add(j, "uid-4", 5, 7000, &error) == 0 &&
		      journal_sync(j, &error) == 0, "add after a torn tail");
	journal_close(&j);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK &&
		      journal_has(j, "uid-4", 5, NULL) &&
		      journal_count(j) == 3,
	      "reopen: the add after the torn tail is a line of its own");
	CHECK(journal_compact(j, true, &error) == 0 &&
		      journal_has(j, "uid-4", 5, NULL), "compact");
	journal_close(&j);
	CHECK(file_size(path) == strlen("+ 1000 uid-1\n+ 5000 uid-3\n"
					"+ 7000 uid-4\n"),
	      "compact: only the live records stay");
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK &&
		      journal_count(j) == 3, "reopen after compaction");
	journal_close(&j);
}

static void test_lock(void)
{
	struct journal *j = NULL, *k = NULL;
	const char *error = "";
	char path[300];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/lock.journal", dir);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK, "lock: first open");
	pid = fork();
	if (pid == 0)
		_exit(journal_open(path, &k, &error) == JOURNAL_BUSY ? 0 : 1);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
		      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "lock: a second process gets BUSY");
	journal_close(&j);
	CHECK(journal_open(path, &k, &error) == JOURNAL_OK,
	      "lock: free after close");
	journal_close(&k);
}

static void test_many(void)
{
	struct journal *j = NULL;
	const char *error = "";
	char path[300], uid[32];
	bool ok = true;
	int i;

	snprintf(path, sizeof(path), "%s/many.journal", dir);
	ok = journal_open(path, &j, &error) == JOURNAL_OK;
	for (i = 0; ok && i < 100000; i++) {
		int n = snprintf(uid, sizeof(uid), "msg-%d", i);

		ok = journal_add(j, uid, (size_t)n, i, &error) == 0;
	}
	ok = ok && journal_sync(j, &error) == 0;
	journal_close(&j);
	ok = ok && journal_open(path, &j, &error) == JOURNAL_OK &&
	     journal_count(j) == 100000;
	for (i = 0; ok && i < 100000; i += 7) {
		int n = snprintf(uid, sizeof(uid), "msg-%d", i);
		time_t when;

		ok = journal_has(j, uid, (size_t)n, &when) && when == i;
	}
	ok = ok && !journal_has(j, "msg-100000", 10, NULL);
	journal_close(&j);
	CHECK(ok, "100000 entries: added, reread, found");
}

static void test_parse(void)
{
	const char *uidl;
	size_t len;
	time_t when;

	CHECK(journal_parse_line("+ 12 abc", 8, &uidl, &len, &when) == '+' &&
		      len == 3 && when == 12, "parse: +");
	CHECK(journal_parse_line("- abc", 5, &uidl, &len, &when) == '-',
	      "parse: -");
	CHECK(journal_parse_line("? abc", 5, &uidl, &len, &when) == '?' &&
		      len == 3,
	      "parse: ?");
	CHECK(journal_parse_line("+ 1x abc", 8, &uidl, &len, &when) == 0 &&
		      journal_parse_line("+ 12", 4, &uidl, &len, &when) == 0 &&
		      journal_parse_line("* 1 a", 5, &uidl, &len, &when) == 0 &&
		      journal_parse_line("+ 1 a b", 7, &uidl, &len, &when) == 0,
	      "parse: malformed lines are no records");
}

static void test_pending(void)
{
	struct journal *j = NULL;
	const char *error = "";
	char path[300];

	snprintf(path, sizeof(path), "%s/pending.journal", dir);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK, "pending: open");
	CHECK(journal_begin(j, "a", 1, &error) == 0 &&
		      journal_begin(j, "b", 1, &error) == 0 &&
		      journal_begin(j, "c", 1, &error) == 0,
	      "pending: three begun");
	CHECK(journal_pending(j, "a", 1) && !journal_has(j, "a", 1, NULL),
	      "pending: begun is unknown, not delivered");
	CHECK(journal_add(j, "a", 1, 5, &error) == 0 &&
		      journal_forget(j, "b", 1, &error) == 0,
	      "pending: a delivered, b failed");
	CHECK(!journal_pending(j, "a", 1) && journal_has(j, "a", 1, NULL) &&
		      !journal_pending(j, "b", 1) && !journal_has(j, "b", 1, NULL),
	      "pending: resolved either way");
	CHECK(journal_sync(j, &error) == 0, "pending: sync");
	journal_close(&j);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK &&
		      journal_pending(j, "c", 1) && !journal_pending(j, "a", 1) &&
		      !journal_pending(j, "b", 1),
	      "pending: only c still unknown after reopening");
	CHECK(journal_compact(j, true, &error) == 0, "pending: compact");
	journal_close(&j);
	CHECK(journal_open(path, &j, &error) == JOURNAL_OK &&
		      journal_pending(j, "c", 1) && journal_has(j, "a", 1, NULL),
	      "pending: compaction keeps the unknown one");
	CHECK(journal_begin(j, "a", 1, &error) == 0 &&
		      !journal_pending(j, "a", 1),
	      "pending: begin of a delivered one changes nothing");
	journal_close(&j);
}

int main(void)
{
	char cmd[100];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_records();
	test_lock();
	test_many();
	test_parse();
	test_pending();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return unit_done();
}
