/* test-mbox.c: mbox parsing (mboxo/mboxrd quoting, separators), X-UIDL,
 * commit keeping mail appended during the session, EXPIRE, a locking MDA
 * appending while the commit holds the locks, crash recovery of an
 * interrupted compaction. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/maildrop.h"
#include "store/msgconv.h"
#include "store/uidl.h"
#include "unit.h"

static char root[] = "/tmp/satchel-mbox-XXXXXX";
static char mbox[512];

static void write_mbox(const char *text, const char *mode)
{
	FILE *f = fopen(mbox, mode);

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static char *read_whole(const char *path)
{
	static char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static struct maildrop *open_drop(int *ret_r, unsigned expire_days)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MBOX, .path = mbox, .lock_stale_secs = 300,
		.expire_days = expire_days,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;

	*ret_r = maildrop_open(&set, &drop, &error);
	return drop;
}

/* The message as stored (after un-quoting), before conversion. */
static char *raw(struct maildrop *drop, unsigned idx)
{
	static char out[65536];
	struct maildrop_reader *reader = NULL;
	const char *error;
	size_t len = 0;
	ssize_t got;

	if (maildrop_reader_open(drop, idx, &reader, &error) != MAILDROP_OK)
		return NULL;
	/* small reads: exercise the skipping of quote octets across calls */
	while ((got = maildrop_reader_read(reader, out + len, 3)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	maildrop_reader_destroy(&reader);
	return got < 0 ? NULL : out;
}

static uint64_t size_of(const char *s)
{
	struct msgsize ms;

	msgsize_init(&ms);
	msgsize_feed(&ms, s, strlen(s));
	return msgsize_finish(&ms);
}

static bool sizes_match(struct maildrop *drop)
{
	unsigned i;

	for (i = 0; i < maildrop_count(drop); i++) {
		const char *r = raw(drop, i);

		if (r == NULL || size_of(r) != maildrop_msg(drop, i)->size)
			return false;
	}
	return true;
}

static void test_parse(void)
{
	struct maildrop *drop;
	int ret;

	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 0,
	      "missing mbox: empty maildrop");
	maildrop_close(&drop);

	write_mbox("", "w");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 0,
	      "empty file: empty maildrop");
	maildrop_close(&drop);

	/* mboxo: the writer turned "From " in the body into ">From " */
	write_mbox("From a@example Mon Jan  1 00:00:00 2024\n"
		   "Subject: one\n\nhello\n>From the start\nFrom inside\n\n"
		   "From b@example Mon Jan  1 00:00:01 2024\n"
		   "Subject: two\n\n>>From deep\n> From not quoted\nend\n\n",
		   "w");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 2,
	      "two messages; From without blank line before is body");
	if (drop == NULL || maildrop_count(drop) != 2)
		return;
	CHECK_STR(raw(drop, 0),
		  "Subject: one\n\nhello\nFrom the start\nFrom inside\n",
		  "mboxo: >From unquoted, separator blank line dropped");
	CHECK_STR(raw(drop, 1),
		  "Subject: two\n\n>From deep\n> From not quoted\nend\n",
		  "mboxrd: >>From loses one >, \"> From\" untouched");
	CHECK(sizes_match(drop), "sizes equal the unquoted conversion");
	CHECK(strlen(maildrop_msg(drop, 0)->uidl) == 32,
	      "no X-UIDL: digest UIDL");
	maildrop_close(&drop);

	/* last message without a trailing newline; CRLF mbox */
	write_mbox("From x Mon Jan  1 00:00:00 2024\r\nA: 1\r\n\r\nbody\r\n"
		   "\r\nFrom y Mon Jan  1 00:00:00 2024\nB: 2\n\nno newline",
		   "w");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 2,
	      "CRLF separator line recognised");
	CHECK_STR(raw(drop, 0), "A: 1\r\n\r\nbody\r\n",
		  "CRLF message without the separator");
	CHECK_STR(raw(drop, 1), "B: 2\n\nno newline",
		  "last message without trailing newline");
	CHECK(maildrop_msg(drop, 1)->size == strlen("B: 2\r\n\r\nno newline\r\n"),
	      "size counts the added final CRLF");
	maildrop_close(&drop);

	write_mbox("Subject: not an mbox\n", "w");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_PERM && drop == NULL, "not an mbox: PERM");
}

static void test_uidl(void)
{
	char first[MAILDROP_UIDL_MAX + 1], dup1[MAILDROP_UIDL_MAX + 1];
	unsigned deleted;
	const char *error;
	struct maildrop *drop, *drop2;
	int ret;

	write_mbox("From a Mon Jan  1 00:00:00 2024\n"
		   "X-UIDL: abc123\nMessage-ID: <1@x>\n\none\n\n"
		   "From a Mon Jan  1 00:00:00 2024\n"
		   "x-uidl:   abc123  \nMessage-ID: <2@x>\n\ntwo\n\n"
		   "From a Mon Jan  1 00:00:00 2024\n"
		   "X-UIDL: has space\n\nthree\n\n"
		   "From a Mon Jan  1 00:00:00 2024\nMessage-ID: <d@x>\n\nsame\n\n"
		   "From a Mon Jan  1 00:00:00 2024\nMessage-ID: <d@x>\n\nsame\n\n"
		   "From a Mon Jan  1 00:00:00 2024\n\nbody X-UIDL: no\n",
		   "w");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 6, "six messages");
	if (drop == NULL || maildrop_count(drop) != 6)
		return;
	CHECK_STR(maildrop_msg(drop, 0)->uidl, "abc123", "X-UIDL used");
	CHECK(strcmp(maildrop_msg(drop, 1)->uidl, "abc123") != 0 &&
		      strlen(maildrop_msg(drop, 1)->uidl) == 32,
	      "duplicate X-UIDL: digest instead");
	CHECK(strlen(maildrop_msg(drop, 2)->uidl) == 32,
	      "invalid X-UIDL: digest");
	snprintf(dup1, sizeof(dup1), "%s", maildrop_msg(drop, 4)->uidl);
	CHECK(strncmp(maildrop_msg(drop, 3)->uidl, dup1, 32) == 0 &&
		      strcmp(dup1 + 32, "-2") == 0,
	      "identical messages: suffix -2");
	CHECK(strlen(maildrop_msg(drop, 5)->uidl) == 32,
	      "X-UIDL in the body is not a header");
	snprintf(first, sizeof(first), "%s", maildrop_msg(drop, 2)->uidl);
	CHECK(maildrop_open(&(struct maildrop_settings){
				    .kind = MAILDROP_MBOX, .path = mbox },
			    &drop2, &error) == MAILDROP_IN_USE,
	      "second session: IN-USE");
	maildrop_msg(drop, 0)->deleted = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 1,
	      "commit one deletion");
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 5 &&
		      strcmp(maildrop_msg(drop, 1)->uidl, first) == 0,
	      "digest UIDL stable after another message's deletion");
	CHECK_STR(maildrop_msg(drop, 0)->uidl, "abc123",
		  "duplicate X-UIDL: first holder wins (documented limit)");
	maildrop_close(&drop);
}

static void test_commit(void)
{
	const char *m1 = "From a Mon Jan  1 00:00:00 2024\nS: 1\n\none\n\n";
	const char *m2 = "From b Mon Jan  1 00:00:00 2024\nS: 2\n\n>From x\n\n";
	const char *m3 = "From c Mon Jan  1 00:00:00 2024\nS: 3\n\nthree\n\n";
	const char *late = "From d Mon Jan  1 00:00:00 2024\nS: 4\n\nnew\n\n";
	char want[4096], lock_path[600];
	struct maildrop *drop;
	const char *error;
	unsigned deleted;
	struct stat st;
	int ret;

	write_mbox(m1, "w");
	write_mbox(m2, "a");
	write_mbox(m3, "a");
	chmod(mbox, 0620);
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->deleted = true;
	maildrop_close(&drop);
	snprintf(want, sizeof(want), "%s%s%s", m1, m2, m3);
	CHECK_STR(read_whole(mbox), want, "close without commit: unchanged");

	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 3, "three");
	write_mbox(late, "a"); /* the MTA delivers during the session */
	maildrop_msg(drop, 1)->deleted = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 1,
	      "commit with mail appended");
	snprintf(want, sizeof(want), "%s%s%s", m1, m3, late);
	CHECK_STR(read_whole(mbox), want,
		  "kept messages and appended mail survive, bytes intact");
	CHECK(stat(mbox, &st) == 0 && (st.st_mode & 0777) == 0620,
	      "mode preserved");
	snprintf(lock_path, sizeof(lock_path), "%s.lock", mbox);
	CHECK(access(lock_path, F_OK) < 0, "dotlock removed");
	snprintf(lock_path, sizeof(lock_path), "%s.satchel-lock", mbox);
	CHECK(access(lock_path, F_OK) < 0, "session lock removed");

	drop = open_drop(&ret, 0);
	CHECK(maildrop_count(drop) == 3, "new mail in the next session");
	maildrop_msg(drop, 0)->deleted = true;
	maildrop_msg(drop, 1)->deleted = true;
	maildrop_msg(drop, 2)->deleted = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 3 && read_whole(mbox)[0] == '\0',
	      "delete all: empty file");

	/* EXPIRE: retrieval recorded at commit, in the sidecar index */
	write_mbox(m1, "w");
	write_mbox(m3, "a");
	drop = open_drop(&ret, 0);
	maildrop_msg(drop, 0)->retrieved = true;
	maildrop_commit(&drop, &deleted, &error);
	drop = open_drop(&ret, 1);
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
		      deleted == 0,
	      "EXPIRE: a fresh retrieval is kept");
	snprintf(lock_path, sizeof(lock_path), "%s.satchel-index", mbox);
	CHECK(access(lock_path, F_OK) == 0, "sidecar index written");
}

/* True when /proc/locks lists a lock of type kind ("POSIX", "FLOCK") on
 * inode ino by pid, held (waiting false) or waited for (waiting true). */
static bool proc_locks_has(ino_t ino, pid_t pid, const char *kind,
			   bool waiting)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/locks", "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *tok[10], *save = NULL, *t;
		unsigned n = 0, i;
		const char *colon;

		for (t = strtok_r(line, " \n", &save); t != NULL && n < 10;
		     t = strtok_r(NULL, " \n", &save))
			tok[n++] = t;
		i = n > 1 && strcmp(tok[1], "->") == 0 ? 2 : 1;
		if (n < i + 5 || (i == 2) != waiting ||
		    strcmp(tok[i], kind) != 0 ||
		    atol(tok[i + 3]) != (long)pid)
			continue;
		colon = strrchr(tok[i + 4], ':');
		found = colon != NULL &&
			strtoull(colon + 1, NULL, 10) == (unsigned long long)ino;
	}
	fclose(f);
	return found;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* The MDA: opened the mbox before the commit (as Postfix local does
 * before it locks), then waits on its fcntl lock and appends. */
static void appender(int ready, int go, const char *msg)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(mbox, O_WRONLY | O_APPEND);
	char c;

	if (fd < 0 || write(ready, "a", 1) != 1)
		_exit(10);
	if (read(go, &c, 1) != 1)
		_exit(11); /* the coordinator died */
	if (fcntl(fd, F_SETLKW, &fl) < 0)
		_exit(12);
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg) ||
	    fsync(fd) < 0)
		_exit(13);
	_exit(0);
}

/* Holds a flock, so the commit waits on it while it already holds the
 * dotlock and the fcntl lock; once the commit holds the fcntl lock, lets
 * the appender go, and releases the flock only when /proc/locks shows the
 * appender blocked. Exit 0: the appender really waited during the
 * commit; 3: the commit finished without waiting (old code). */
static void coordinator(int ready, int go, int done, ino_t ino,
			pid_t committer, pid_t mda)
{
	uint64_t deadline = now_ms() + 20000;
	bool told = false;
	int fd = open(mbox, O_RDONLY);

	if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(ready, "k", 1) != 1)
		_exit(10);
	while (now_ms() < deadline) {
		struct timespec ms = { 0, 1000000 };

		if (!told && proc_locks_has(ino, committer, "POSIX", false)) {
			told = write(go, "g", 1) == 1;
		} else if (told && proc_locks_has(ino, mda, "POSIX", true)) {
			close(fd); /* the commit goes on; the MDA waits */
			_exit(0);
		}
		if (readable(done)) {
			if (!told && write(go, "g", 1) != 1)
				_exit(14);
			_exit(3);
		}
		nanosleep(&ms, NULL);
	}
	_exit(4);
}

static int wait_exit(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_concurrent_append(void)
{
	const char *m1 = "From a Mon Jan  1 00:00:00 2024\nS: 1\n\none\n\n";
	const char *m2 = "From b Mon Jan  1 00:00:00 2024\nS: 2\n\ntwo\n\n";
	const char *m3 = "From c Mon Jan  1 00:00:00 2024\nS: 3\n\nthree\n\n";
	const char *late = "From d Mon Jan  1 00:00:00 2024\nS: 4\n\nlate\n\n";
	int ready[2], go[2], done[2], ret, a_exit, k_exit;
	char want[4096], c;
	struct maildrop *drop;
	const char *error = "";
	unsigned deleted = 0;
	struct stat st;
	ino_t ino;
	pid_t a, k;

	write_mbox(m1, "w");
	write_mbox(m2, "a");
	write_mbox(m3, "a");
	if (stat(mbox, &st) < 0 || pipe(ready) < 0 || pipe(go) < 0 ||
	    pipe(done) < 0)
		abort();
	ino = st.st_ino;
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_OK && maildrop_count(drop) == 3,
	      "concurrent: three messages");
	if (drop == NULL || maildrop_count(drop) != 3)
		return;
	maildrop_msg(drop, 0)->deleted = true;
	maildrop_msg(drop, 2)->deleted = true;
	fflush(stdout);
	a = fork();
	if (a == 0)
		appender(ready[1], go[0], late);
	k = fork();
	if (k == 0)
		coordinator(ready[1], go[1], done[0], st.st_ino, getppid(), a);
	close(go[0]);
	close(go[1]); /* the appender's read ends if the coordinator dies */
	CHECK(a > 0 && k > 0 && read(ready[0], &c, 1) == 1 &&
		      read(ready[0], &c, 1) == 1,
	      "concurrent: appender opened the mbox, coordinator holds flock");
	ret = maildrop_commit(&drop, &deleted, &error);
	if (write(done[1], "d", 1) != 1)
		abort();
	CHECK(ret == MAILDROP_OK && deleted == 2,
	      "concurrent: commit of two deletions");
	k_exit = wait_exit(k);
	a_exit = wait_exit(a);
	CHECK(k_exit == 0,
	      "concurrent: the MDA was blocked on the fcntl lock while the "
	      "commit held it");
	CHECK(a_exit == 0, "concurrent: the MDA appended its message");
	snprintf(want, sizeof(want), "%s%s", m2, late);
	CHECK_STR(read_whole(mbox), want,
		  "concurrent: appended mail kept, deleted gone, kept intact");
	CHECK(stat(mbox, &st) == 0 && st.st_ino == ino,
	      "concurrent: still the same inode");
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
}

/* A journal as mbox_compact.c writes it: the tail for start, written
 * when the mbox was old (stale = old[start + strlen(tail), end)). */
static void write_journal(const char *old, size_t start, const char *tail,
			  ino_t ino)
{
	char path[600], stale[UIDL_DIGEST_HEX + 1];
	size_t size = strlen(old), len = strlen(tail);
	struct iovec part = { (void *)(old + start + len),
			      size - start - len };
	FILE *f;

	snprintf(path, sizeof(path), "%s.satchel-compact", mbox);
	if (uidl_digest(&part, 1, stale) < 0 || (f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "satchel-compact 1 %llu %zu %zu %zu %s\n%s",
		(unsigned long long)ino, start, len, size, stale, tail);
	fclose(f);
}

static bool journal_exists(void)
{
	char path[600];

	snprintf(path, sizeof(path), "%s.satchel-compact", mbox);
	return access(path, F_OK) == 0;
}

/* One crash state: the mbox as the crash (and an MDA after it) left it,
 * a journal; the next open must give want. */
static void check_recovery(const char *name, const char *old, size_t start,
			   const char *tail, const char *now,
			   const char *want)
{
	struct maildrop *drop;
	struct stat st;
	char label[200];
	int ret;

	write_mbox(now, "w");
	if (stat(mbox, &st) < 0)
		abort();
	write_journal(old, start, tail, st.st_ino);
	drop = open_drop(&ret, 0);
	snprintf(label, sizeof(label), "recovery, %s: open succeeds", name);
	CHECK(ret == MAILDROP_OK, label);
	maildrop_close(&drop);
	snprintf(label, sizeof(label), "recovery, %s: compaction finished",
		 name);
	CHECK_STR(read_whole(mbox), want, label);
	snprintf(label, sizeof(label), "recovery, %s: journal removed", name);
	CHECK(!journal_exists(), label);
}

static void test_recovery(void)
{
	const char *m1 = "From a Mon Jan  1 00:00:00 2024\nS: 1\n\none\n\n";
	const char *m2 = "From b Mon Jan  1 00:00:00 2024\nS: 2\n\n"
			 "two, deleted, a longer body than the late one\n\n";
	const char *m3 = "From c Mon Jan  1 00:00:00 2024\nS: 3\n\nthree\n\n";
	const char *m4 = "From d Mon Jan  1 00:00:00 2024\nS: 4\n\nfour\n\n";
	const char *late = "From e Mon Jan  1 00:00:00 2024\n\nlate\n\n";
	const char *longer = "From f Mon Jan  1 00:00:00 2024\nS: 6\n\n"
			     "later mail, longer than the deleted message,\n"
			     "so the old size is reached again\n\n";
	char old[1024], tail[512], now[2048], want[2048];
	size_t start = strlen(m1);
	struct maildrop *drop;
	struct stat st;
	int ret;

	/* the session deleted m2: the tail m3 m4 goes to strlen(m1) */
	snprintf(old, sizeof(old), "%s%s%s%s", m1, m2, m3, m4);
	snprintf(tail, sizeof(tail), "%s%s", m3, m4);
	snprintf(want, sizeof(want), "%s%s", m1, tail);
	check_recovery("journal written, mbox untouched", old, start, tail,
		       old, want);
	snprintf(now, sizeof(now), "%s", old);
	memcpy(now + start, tail, 20);
	check_recovery("copy half done", old, start, tail, now, want);
	check_recovery("truncated, journal not yet removed", old, start,
		       tail, want, want);

	/* mail appended by an fcntl-only MDA between the crash and now */
	snprintf(now, sizeof(now), "%s%s", old, late);
	snprintf(want, sizeof(want), "%s%s%s", m1, tail, late);
	check_recovery("untouched + appended", old, start, tail, now, want);
	snprintf(now, sizeof(now), "%s%s", old, late);
	memcpy(now + start, tail, 20);
	check_recovery("copy half done + appended", old, start, tail, now,
		       want);
	snprintf(now, sizeof(now), "%s%s%s", m1, tail, late);
	check_recovery("truncated + appended less than removed", old, start,
		       tail, now, want);
	snprintf(now, sizeof(now), "%s%s%s", m1, tail, longer);
	snprintf(want, sizeof(want), "%s%s%s", m1, tail, longer);
	check_recovery("truncated + appended more than removed", old, start,
		       tail, now, want);

	/* a journal that does not fit is left alone, and so is the mbox */
	write_mbox(old, "w");
	if (stat(mbox, &st) < 0)
		abort();
	write_journal(old, start, tail, st.st_ino + 1);
	drop = open_drop(&ret, 0);
	CHECK(ret == MAILDROP_TEMP && drop == NULL,
	      "recovery: journal of another inode: TEMP");
	CHECK(journal_exists() && strcmp(read_whole(mbox), old) == 0,
	      "recovery: journal of another inode: both left as they are");
	write_journal(old, start, tail, st.st_ino);
	{
		char path[600];

		snprintf(path, sizeof(path), "%s.satchel-compact", mbox);
		if (truncate(path, 30) < 0)
			abort();
		drop = open_drop(&ret, 0);
		CHECK(ret == MAILDROP_TEMP && drop == NULL &&
			      strcmp(read_whole(mbox), old) == 0,
		      "recovery: unreadable journal: TEMP, mbox untouched");
		unlink(path);
	}
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(mbox, sizeof(mbox), "%s/user", root);
	test_parse();
	test_uidl();
	test_commit();
	test_concurrent_append();
	test_recovery();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", root);
	}
	return unit_done();
}
