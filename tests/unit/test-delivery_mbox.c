/* test-delivery_mbox.c: the mbox appender (delivery_mbox.c): From_
 * quoting read back through the POP3 reader (mbox.c) for mboxo and
 * mboxrd, lines across read and part boundaries, cut back on errors, the
 * same-inode and link checks, locks held by other processes.
 *
 * With arguments it is a tool for tests/integration/test_mbox_deliver.py:
 *   test-delivery_mbox --append PATH SENDER [--mboxrd] [--deadline-ms N]
 *                      [--each]
 * appends the message on stdin; exit 0, 75 (temporary) or 77. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/delivery_mbox.h"
#include "store/maildrop.h"
#include "unit.h"

#define READ_BUF 65536 /* as delivery_mbox.c reads the spool */

static char root[] = "/tmp/satchel-dmbox-XXXXXX";
static char mbox[300];

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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An unlinked file holding len octets: a spool. */
static int spool_of(const char *data, size_t len)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/spool-XXXXXX", root);
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	unlink(path);
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	return fd;
}

static char *read_all(const char *path, size_t *len_r)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL ||
	    read(fd, buf, (size_t)st.st_size) != (ssize_t)st.st_size)
		abort();
	buf[st.st_size] = '\0';
	close(fd);
	*len_r = (size_t)st.st_size;
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

/* Appends prefix (split in two parts at cut) and body. 0 or -1. */
static int append(const char *prefix, size_t cut, const char *body,
		  size_t body_len, bool mboxrd, unsigned wait_ms,
		  const char **error_r, bool *temp_r)
{
	struct iovec iov[2];
	struct delivery_mbox_message msg = {
		.sender = "sender@example.org", .received = time(NULL),
		.prefix = iov, .nprefix = 0, .mboxrd = mboxrd,
		.deadline = deadline_in(wait_ms),
	};
	uint64_t off, size;
	int ret;

	if (prefix != NULL) {
		iov[0] = (struct iovec){ (void *)prefix, cut };
		iov[1] = (struct iovec){ (void *)(prefix + cut),
					 strlen(prefix) - cut };
		msg.nprefix = 2;
	}
	msg.fd = spool_of(body, body_len);
	ret = delivery_mbox_append(mbox, &msg, &off, &size, temp_r, error_r);
	close(msg.fd);
	if (ret < 0)
		printf("# append: %s\n", *error_r);
	return ret;
}

static int append_text(const char *body, bool mboxrd)
{
	const char *error = NULL;
	bool temp;

	return append(NULL, 0, body, strlen(body), mboxrd, 1000, &error,
		      &temp);
}

/* Message idx through the POP3 reader, as stored after un-quoting. */
static char *reread(unsigned idx, unsigned *count_r, size_t *len_r)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MBOX, .path = mbox, .lock_stale_secs = 300,
	};
	struct maildrop *drop = NULL;
	struct maildrop_reader *reader = NULL;
	const char *error = NULL;
	size_t len = 0, alloc = 4096;
	char *out = malloc(alloc);
	ssize_t got;

	*count_r = 0;
	if (out == NULL ||
	    maildrop_open(&set, &drop, &error) != MAILDROP_OK) {
		printf("# maildrop_open: %s\n", error);
		free(out);
		return NULL;
	}
	*count_r = maildrop_count(drop);
	if (idx >= *count_r ||
	    maildrop_reader_open(drop, idx, &reader, &error) != MAILDROP_OK) {
		maildrop_close(&drop);
		free(out);
		return NULL;
	}
	/* odd-sized reads: quote octets skipped across calls */
	for (;;) {
		if (alloc - len < 1000) {
			alloc *= 2;
			out = realloc(out, alloc);
			if (out == NULL)
				abort();
		}
		got = maildrop_reader_read(reader, out + len, 997);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	out[len] = '\0';
	maildrop_reader_destroy(&reader);
	maildrop_close(&drop);
	*len_r = len;
	if (got < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* What a reader un-quoting mboxrd gives back for an mboxo file: every
 * ^>+From line loses one '>' (">From " in the original cannot be told
 * from a quoted "From " in mboxo: lossy by format). */
static char *mboxo_expected(const char *in, size_t len, size_t *len_r)
{
	char *out = malloc(len + 1);
	size_t i = 0, o = 0;

	if (out == NULL)
		abort();
	while (i < len) {
		size_t q = i;

		while (q < len && in[q] == '>')
			q++;
		if (q > i && len - q >= 5 && memcmp(in + q, "From ", 5) == 0)
			i++; /* drop one '>' */
		while (i < len && in[i] != '\n')
			out[o++] = in[i++];
		if (i < len)
			out[o++] = in[i++];
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

static const char quote_body[] =
	"Subject: quoting\n"
	"\n"
	"From the start\n"
	">From once quoted\n"
	">>From twice quoted\n"
	"From\n"
	"Fromage\n"
	">From\n"
	" From indented\n"
	"From \n"
	"last From in the line\n"
	"From no line end";

/* A message where a "From " and a ">>From " line start octets before the
 * READ_BUF boundary of the spool, so their match crosses reads. */
static char *big_body(size_t *len_r, size_t back)
{
	size_t len = 0, alloc = 3 * READ_BUF;
	char *b = malloc(alloc);

	if (b == NULL)
		abort();
	len += (size_t)sprintf(b, "Subject: big\n\n");
	for (; len < READ_BUF - back - 1; len++)
		b[len] = len % 61 == 0 ? '\n' : 'x';
	b[len++] = '\n';
	len += (size_t)sprintf(b + len, "From across the border\n");
	for (; len < 2 * READ_BUF - back - 1; len++)
		b[len] = len % 73 == 0 ? '\n' : 'y';
	b[len++] = '\n';
	len += (size_t)sprintf(b + len, ">>From across again\nend\n");
	*len_r = len;
	return b;
}

static void test_quoting(bool mboxrd)
{
	const char *fmt = mboxrd ? "mboxrd" : "mboxo";
	const char *error = NULL;
	char name[200], *got, *want, *file, *big;
	size_t len, want_len, file_len, big_len, back;
	unsigned count;
	bool temp;
	int idx = 0;

	unlink(mbox);
	CHECK(append_text(quote_body, mboxrd) == 0, "append quoting message");
	file = read_all(mbox, &file_len);
	snprintf(name, sizeof(name), "%s: From line first, MAILER-DAEMON "
		 "only for an empty sender", fmt);
	CHECK(strncmp(file, "From sender@example.org ", 24) == 0, name);
	snprintf(name, sizeof(name), "%s: quoted on disk", fmt);
	CHECK(mboxrd ? strstr(file, "\n>From the start\n>>From once quoted\n"
				    ">>>From twice quoted\nFrom\nFromage\n"
				    ">From\n From indented\n>From \n") != NULL
		     : strstr(file, "\n>From the start\n>From once quoted\n"
				    ">>From twice quoted\nFrom\nFromage\n"
				    ">From\n From indented\n>From \n") != NULL,
	      name);
	snprintf(name, sizeof(name), "%s: line end and empty line added",
		 fmt);
	CHECK(file_len > 19 &&
	      strcmp(file + file_len - 19, ">From no line end\n\n") == 0, name);
	free(file);
	if (mboxrd) {
		want = strdup(quote_body);
		want_len = strlen(want);
	} else {
		want = mboxo_expected(quote_body, strlen(quote_body),
				      &want_len);
	}
	got = reread(idx++, &count, &len);
	snprintf(name, sizeof(name), "%s: read back through mbox.c", fmt);
	CHECK(got != NULL && len == want_len + 1 &&
	      memcmp(got, want, want_len) == 0 && got[want_len] == '\n',
	      name);
	free(got);
	free(want);

	/* the prefix split inside "From " and a line crossing parts */
	CHECK(append(">>Fr", 2, "om split\nFr", 11, mboxrd, 1000, &error,
		     &temp) == 0, "append with a split prefix");
	got = reread(idx++, &count, &len);
	want = mboxrd ? strdup(">>From split\nFr\n") :
			mboxo_expected(">>From split\nFr\n", 16, &want_len);
	snprintf(name, sizeof(name), "%s: From split over prefix parts", fmt);
	CHECK(got != NULL && strcmp(got, want) == 0, name);
	free(got);
	free(want);
	CHECK(append("Delivered-To: a@b\nFro", 21, "m x\nbody\n", 9,
		     mboxrd, 1000, &error, &temp) == 0 &&
	      (got = reread(idx++, &count, &len)) != NULL &&
	      strcmp(got, "Delivered-To: a@b\nFrom x\nbody\n") == 0,
	      "From split between the prefix and the spool");
	free(got);

	/* lines crossing the spool's read boundary, at every split */
	for (back = 0; back <= 8; back++) {
		big = big_body(&big_len, back);
		CHECK(append(NULL, 0, big, big_len, mboxrd, 1000, &error,
			     &temp) == 0, "append a big message");
		got = reread(idx++, &count, &len);
		want = mboxrd ? strdup(big) :
				mboxo_expected(big, big_len, &want_len);
		if (mboxrd)
			want_len = big_len;
		snprintf(name, sizeof(name), "%s: From lines across the "
			 "read boundary (%zu back)", fmt, back);
		CHECK(got != NULL && len == want_len &&
		      memcmp(got, want, len) == 0, name);
		free(got);
		free(want);
		free(big);
	}
	snprintf(name, sizeof(name), "%s: every message found", fmt);
	CHECK(count == (unsigned)idx, name);
}

static void test_forms(void)
{
	unsigned count;
	size_t len;
	char *got, *file = NULL;
	const char *error = NULL;
	bool temp;
	struct delivery_mbox_message msg = {
		.sender = "", .received = 0, .deadline = deadline_in(1000),
	};
	uint64_t off, size;
	struct stat st;

	unlink(mbox);
	CHECK(append_text("A: 1\r\n\r\nline\r\nno end", false) == 0 &&
	      (file = read_all(mbox, &len)) != NULL &&
	      strstr(file, "line\r\nno end\r\n\r\n") != NULL,
	      "CRLF message: CRLF line end and separator added");
	free(file);
	got = reread(0, &count, &len);
	CHECK(got != NULL && strcmp(got, "A: 1\r\n\r\nline\r\nno end\r\n") == 0,
	      "CRLF message read back");
	free(got);
	CHECK(append_text("", false) == 0 &&
	      (got = reread(1, &count, &len)) != NULL && len == 0 &&
	      count == 2, "empty message: an empty message");
	free(got);

	/* the file before us did not end in an empty line */
	write_file(mbox, "From a Mon Jan  1 00:00:00 2024\nS: 1\n\nbody");
	stat(mbox, &st);
	msg.fd = spool_of("S: 2\n\ntwo\n", 10);
	CHECK(delivery_mbox_append(mbox, &msg, &off, &size, &temp, &error) ==
		      0 && off == (uint64_t)st.st_size + 2,
	      "a file without its end: separator added before ours");
	close(msg.fd);
	CHECK(stat(mbox, &st) == 0 && off + size == (uint64_t)st.st_size,
	      "offset + size = new file size");
	file = read_all(mbox, &len);
	CHECK(strncmp(file + off, "From MAILER-DAEMON ", 19) == 0,
	      "empty sender: MAILER-DAEMON");
	free(file);
	got = reread(1, &count, &len);
	CHECK(count == 2 && got != NULL && strcmp(got, "S: 2\n\ntwo\n") == 0,
	      "both messages found");
	free(got);

	msg.sender = "evil\nFrom x y";
	msg.fd = spool_of("S: 3\n\nthree\n", 12);
	CHECK(delivery_mbox_append(mbox, &msg, &off, &size, &temp, &error) ==
		      0 && (file = read_all(mbox, &len)) != NULL &&
	      strncmp(file + off, "From evil_From_x_y ", 19) == 0,
	      "blanks and controls in the sender do not break the line");
	close(msg.fd);
	free(file);
	file = NULL;
}

static void test_errors(void)
{
	char *before, *after, *prefix, other[400];
	size_t blen, alen, i;
	const char *error = NULL;
	struct iovec iov;
	bool temp = false;
	struct delivery_mbox_message msg = {
		.sender = "s", .received = time(NULL),
		.deadline = deadline_in(1000), .prefix = &iov, .nprefix = 1,
	};
	uint64_t off, size;
	int dirfd;

	unlink(mbox);
	append_text("S: 1\n\none\n", false);
	before = read_all(mbox, &blen);
	/* more than one buffer of prefix goes out before the spool read
	 * fails: the file must be cut back */
	prefix = malloc(3 * READ_BUF);
	for (i = 0; i < 3 * READ_BUF - 1; i++)
		prefix[i] = i % 50 == 49 ? '\n' : 'p';
	prefix[i] = '\0';
	iov = (struct iovec){ prefix, strlen(prefix) };
	dirfd = open(root, O_RDONLY | O_DIRECTORY);
	msg.fd = dirfd;
	CHECK(delivery_mbox_append(mbox, &msg, &off, &size, &temp, &error) <
		      0 && temp,
	      "spool that cannot be read (a directory): temporary error");
	after = read_all(mbox, &alen);
	CHECK(alen == blen && memcmp(before, after, blen) == 0,
	      "failed append cut back to the old size");
	free(after);
	close(dirfd);
	/* a number no open file has (not dirfd's: the mbox may get it) */
	msg.fd = 1000;
	CHECK(delivery_mbox_append(mbox, &msg, &off, &size, &temp, &error) <
		      0 && temp,
	      "closed spool fd: temporary error");
	after = read_all(mbox, &alen);
	CHECK(alen == blen && memcmp(before, after, blen) == 0,
	      "closed spool fd: cut back");
	free(after);
	free(prefix);

	/* a second name for the file: refused, nothing written */
	snprintf(other, sizeof(other), "%s/second-name", root);
	CHECK(link(mbox, other) == 0, "make a second link");
	CHECK(append_text("S: 2\n\ntwo\n", false) < 0, "link count 2: refused");
	after = read_all(mbox, &alen);
	CHECK(alen == blen, "link count 2: nothing written");
	free(after);
	unlink(other);

	CHECK(symlink(mbox, other) == 0, "make a symlink");
	msg.nprefix = 0;
	msg.fd = spool_of("x\n", 2);
	CHECK(delivery_mbox_append(other, &msg, &off, &size, &temp, &error) <
		      0 && !temp,
	      "symlink: permanent refusal");
	unlink(other);
	CHECK(mkfifo(other, 0600) == 0 &&
	      delivery_mbox_append(other, &msg, &off, &size, &temp, &error) <
		      0 && !temp,
	      "FIFO: permanent refusal, no hang");
	unlink(other);
	close(msg.fd);
	free(before);
}

/* Does pid have path open? (/proc/PID/fd) */
static bool has_open(pid_t pid, const char *path)
{
	char dir[64], link[400], target[400];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = strcmp(target, path) == 0;
		}
	}
	closedir(d);
	return found;
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

/* A child appending (wait_ms for the locks): exit 0 appended, 1 not.
 * It closes close_fd first (a holder's release pipe: the holder waits
 * for its end-of-file). */
static pid_t fork_append(const char *body, unsigned wait_ms, int close_fd)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *error = NULL;
		bool temp;

		close(close_fd);
		if (append(NULL, 0, body, strlen(body), false, wait_ms,
			   &error, &temp) == 0)
			_exit(0);
		fflush(stdout);
		_exit(1);
	}
	return pid;
}

enum holder_kind { HOLD_FCNTL, HOLD_FLOCK, HOLD_DOTLOCK };

/* A child holding one lock for ms milliseconds, or (ms 0) until
 * *release_r is closed; returns once it holds. */
static pid_t fork_holder(enum holder_kind kind, unsigned ms, int *release_r)
{
	int ready[2], release[2];
	pid_t pid;
	char c;

	if (pipe(ready) < 0 || pipe(release) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char dot[400];
		int fd = open(mbox, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		close(release[1]);
		snprintf(dot, sizeof(dot), "%s.lock", mbox);
		if (fd < 0 ||
		    (kind == HOLD_FCNTL && fcntl(fd, F_SETLK, &fl) < 0) ||
		    (kind == HOLD_FLOCK && flock(fd, LOCK_EX | LOCK_NB) < 0) ||
		    (kind == HOLD_DOTLOCK &&
		     open(dot, O_CREAT | O_EXCL | O_WRONLY, 0644) < 0))
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		if (ms > 0)
			usleep(ms * 1000);
		else
			while (read(release[0], &c, 1) > 0)
				;
		if (kind == HOLD_DOTLOCK)
			unlink(dot);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	if (read(ready[0], &c, 1) != 1)
		abort();
	close(ready[0]);
	if (release_r != NULL)
		*release_r = release[1];
	else
		close(release[1]);
	return pid;
}

static void test_replaced(void)
{
	char old[400];
	uint64_t t0;
	pid_t pid, holder;
	int r, release;

	unlink(mbox);
	write_file(mbox, "");
	/* another process holds the flock, so the appender has the file
	 * open and waits; meanwhile the file is renamed away */
	holder = fork_holder(HOLD_FLOCK, 0, &release);
	pid = fork_append("S: 1\n\nlate\n", 5000, release);
	t0 = now_ms();
	while (!has_open(pid, mbox) && now_ms() - t0 < 5000)
		usleep(1000);
	CHECK(has_open(pid, mbox), "the appender has the mbox open");
	snprintf(old, sizeof(old), "%s.old", mbox);
	rename(mbox, old);
	write_file(mbox, "");
	close(release);
	wait_exit(holder);
	r = wait_exit(pid);
	CHECK(r == 1 && now_ms() - t0 < 4000,
	      "renamed away between open and lock: temporary failure "
	      "(before its deadline: the check, not a time-out)");
	CHECK(access(old, F_OK) == 0 && access(mbox, F_OK) == 0, "both there");
	{
		size_t a, b;
		char *x = read_all(old, &a), *y = read_all(mbox, &b);

		CHECK(a == 0 && b == 0, "neither file was written");
		free(x);
		free(y);
	}
	unlink(old);
}

static void test_waits(void)
{
	static const char *const names[] = { "fcntl", "flock", "dotlock" };
	char name[200], dot[400];
	int k, release;

	snprintf(dot, sizeof(dot), "%s.lock", mbox);
	unlink(mbox);
	write_file(mbox, "");
	for (k = HOLD_FCNTL; k <= HOLD_DOTLOCK; k++) {
		size_t before, after;
		uint64_t t0;
		pid_t holder;
		free(read_all(mbox, &before));
		holder = fork_holder((enum holder_kind)k, 400, NULL);
		t0 = now_ms();
		snprintf(name, sizeof(name),
			 "%s held 0.4 s: the append waits and succeeds",
			 names[k]);
		CHECK(append_text("S: w\n\nwaited\n", false) == 0 &&
		      now_ms() - t0 >= 300, name);
		wait_exit(holder);
		holder = fork_holder((enum holder_kind)k, 0, &release);
		t0 = now_ms();
		{
			const char *error = NULL;
			bool temp = false;
			int r = append(NULL, 0, "S: x\n\nno\n", 9, false, 300,
				       &error, &temp);

			snprintf(name, sizeof(name),
				 "%s held past the deadline: temporary "
				 "failure in time", names[k]);
			CHECK(r < 0 && temp && now_ms() - t0 < 3000, name);
		}
		free(read_all(mbox, &after));
		snprintf(name, sizeof(name), "%s: the mbox unchanged by the "
			 "failed append", names[k]);
		CHECK(after == before + strlen("From sender@example.org ") +
				       25 + strlen("S: w\n\nwaited\n\n"),
		      name);
		close(release);
		wait_exit(holder);
	}
	CHECK(access(dot, F_OK) < 0, "no dotlock left behind");

	/* a stale dotlock (older than 5 minutes) is broken */
	{
		struct timespec old[2] = { { time(NULL) - 600, 0 },
					   { time(NULL) - 600, 0 } };

		write_file(dot, "12345\n");
		utimensat(AT_FDCWD, dot, old, 0);
		CHECK(append_text("S: s\n\nstale\n", false) == 0,
		      "a stale dotlock is broken");
	}
}

/* A program that holds the fcntl lock and waits for the dotlock while
 * we hold it (another order): we must let go of the dotlock while we
 * back off, or both wait until our deadline. */
static void test_release_before_backoff(void)
{
	char dot[400];
	int ready[2];
	pid_t pid;
	char c;

	snprintf(dot, sizeof(dot), "%s.lock", mbox);
	if (pipe(ready) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(mbox, O_RDWR), dfd = -1;
		int ino = inotify_init1(IN_NONBLOCK);
		uint64_t t0 = now_ms();
		bool seen = false;

		if (fd < 0 || ino < 0 ||
		    inotify_add_watch(ino, root, IN_CREATE) < 0 ||
		    fcntl(fd, F_SETLK, &fl) < 0 ||
		    write(ready[1], "r", 1) != 1)
			_exit(2);
		/* until the appender has created the dotlock once ... */
		while (!seen && now_ms() - t0 < 5000) {
			char ev[4096]
				__attribute__((aligned(__alignof__(
					struct inotify_event))));
			ssize_t n = read(ino, ev, sizeof(ev)), o = 0;

			while (n > 0 && o < n) {
				struct inotify_event *e = (void *)(ev + o);

				seen |= e->len > 0 &&
					strcmp(e->name, "mbox.lock") == 0;
				o += (ssize_t)(sizeof(*e) + e->len);
			}
			if (!seen)
				usleep(1000);
		}
		/* ... then take it ourselves, as Postfix would */
		while (seen && now_ms() - t0 < 5000 &&
		       (dfd = open(dot, O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0)
			usleep(1000);
		if (dfd < 0)
			_exit(3);
		unlink(dot);
		_exit(0); /* releases the fcntl lock */
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		abort();
	CHECK(append_text("S: o\n\norder\n", false) == 0,
	      "fcntl holder waiting for the dotlock: both get through");
	CHECK(wait_exit(pid) == 0,
	      "the other program got the dotlock while we backed off");
	close(ready[0]);
}

/* Reads all of fd into a malloc'd buffer. */
static char *slurp(int fd, size_t *len_r)
{
	size_t len = 0, alloc = 65536;
	char *buf = malloc(alloc);
	ssize_t n;

	while (buf != NULL &&
	       (n = read(fd, buf + len, alloc - len)) > 0) {
		len += (size_t)n;
		if (len == alloc)
			buf = realloc(buf, alloc *= 2);
	}
	*len_r = len;
	return buf;
}

/* --append PATH SENDER [--mboxrd] [--deadline-ms N] [--each] < message
 * With --each, stdin holds several messages, each ended by a line of
 * one NUL octet, appended one by one (each its own lock round and
 * fsync): one process for many deliveries. Exit 0, 75, 77 (64: usage). */
static int tool_append(int argc, char **argv)
{
	struct delivery_mbox_message msg = {
		.sender = argv[3], .received = time(NULL),
	};
	char path[] = "/tmp/satchel-append-XXXXXX", *in, *p, *end;
	unsigned deadline_ms = 10000;
	const char *error = NULL;
	bool temp = true, each = false;
	uint64_t off, size;
	size_t len;
	int i;

	for (i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--mboxrd") == 0)
			msg.mboxrd = true;
		else if (strcmp(argv[i], "--each") == 0)
			each = true;
		else if (strcmp(argv[i], "--deadline-ms") == 0 && i + 1 < argc)
			deadline_ms = (unsigned)atoi(argv[++i]);
		else
			return 64;
	}
	/* the spool is a file (pread); stdin may be a pipe */
	msg.fd = mkstemp(path);
	in = slurp(0, &len);
	if (msg.fd < 0 || in == NULL)
		return 75;
	unlink(path);
	for (p = in, end = in + len; p < end || (!each && p == in);) {
		char *stop = each ? memmem(p, (size_t)(end - p), "\0\n", 2) :
				    NULL;
		size_t n = (size_t)((stop != NULL ? stop : end) - p);

		if (ftruncate(msg.fd, 0) < 0 ||
		    pwrite(msg.fd, p, n, 0) != (ssize_t)n) {
			free(in);
			return 75;
		}
		msg.deadline = deadline_in(deadline_ms);
		if (delivery_mbox_append(argv[2], &msg, &off, &size, &temp,
					 &error) < 0) {
			fprintf(stderr, "%s %s\n", temp ? "4.2.0" : "5.2.0",
				error);
			free(in);
			return temp ? 75 : 77;
		}
		printf("%llu %llu\n", (unsigned long long)off,
		       (unsigned long long)size);
		p += n + (stop != NULL ? 2 : 0);
		if (!each)
			break;
	}
	free(in);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--append") == 0)
		return tool_append(argc, argv);
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(mbox, sizeof(mbox), "%s/mbox", root);
	test_quoting(false);
	test_quoting(true);
	test_forms();
	test_errors();
	test_replaced();
	test_waits();
	test_release_before_backoff();
	if (unit_failures == 0) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", root);
	}
	return unit_done();
}
