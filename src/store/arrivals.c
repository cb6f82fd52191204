/* arrivals.c: the delivery log of a Maildir's new/ (arrivals.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/arrivals.h"
#include "util/fileio.h"

/* a name, a size and two stamps: "NAME 20 20.9 20.9\n" */
#define ARRIVALS_LINE_MAX (NAME_MAX + 3 * 21 + 20)
#define ARRIVALS_BREAK "-\n"
/* the session's truncation waits at most this long for the flock */
#define ARRIVALS_TRUNCATE_TRIES 20

static bool arrivals_deadline_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec &&
		now.tv_nsec >= deadline->tv_nsec);
}

/* flock without blocking, retried every millisecond until the deadline
 * (NULL: tries times). Deliveries hold it for a few system calls. */
static int arrivals_lock(int fd, const struct timespec *deadline,
			 unsigned tries)
{
	const struct timespec pause = { 0, 1000000 };

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (deadline != NULL ? arrivals_deadline_passed(deadline) :
				       tries-- == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

static int arrivals_put_stamp(char *p, size_t size, const struct stat *st,
			      const char *end)
{
	return snprintf(p, size, "%lld.%09ld%s", (long long)st->st_mtim.tv_sec,
			(long)st->st_mtim.tv_nsec, end);
}

int arrivals_begin(int md_fd, int new_fd, const char *name, uint64_t wsize,
		   const struct timespec *deadline, struct arrivals_append *a,
		   const char **error_r)
{
	char line[ARRIVALS_LINE_MAX];
	struct stat st;
	int n, m, saved;

	a->written = false;
	a->fd = openat(md_fd, ARRIVALS_NAME,
		       O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		       0600);
	if (a->fd < 0) {
		*error_r = "cannot open the delivery log";
		return -1;
	}
	if (arrivals_lock(a->fd, deadline, 0) < 0) {
		*error_r = "delivery log lock timed out";
		goto out_close;
	}
	if (fstat(a->fd, &st) < 0) {
		*error_r = "cannot stat the delivery log";
		goto out_close;
	}
	if (st.st_size > ARRIVALS_MAX_SIZE) {
		/* nobody read it for long: cut, and mark it broken so the
		 * next session reads the directories */
		if (ftruncate(a->fd, 0) < 0 ||
		    fileio_write_all(a->fd, ARRIVALS_BREAK, 2) < 0) {
			*error_r = "cannot cut the delivery log";
			goto out_close;
		}
		st.st_size = 2;
	}
	a->start = st.st_size;
	if (fstat(new_fd, &st) < 0) {
		*error_r = "cannot stat new/";
		goto out_close;
	}
	n = snprintf(line, sizeof(line), "%s %llu ", name,
		     (unsigned long long)wsize);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		*error_r = "name too long for the delivery log";
		goto out_close;
	}
	m = arrivals_put_stamp(line + n, sizeof(line) - (size_t)n, &st, " ");
	if (m < 0 || (size_t)n + (size_t)m >= sizeof(line)) {
		errno = EOVERFLOW;
		*error_r = "bad stamp for the delivery log";
		goto out_close;
	}
	if (fileio_write_all(a->fd, line, (size_t)n + (size_t)m) < 0) {
		saved = errno;
		(void)!ftruncate(a->fd, a->start);
		errno = saved;
		*error_r = "cannot write the delivery log";
		goto out_close;
	}
	a->written = true;
	return 0;

out_close:
	saved = errno;
	close(a->fd); /* releases the flock */
	a->fd = -1;
	errno = saved;
	return -1;
}

void arrivals_end(struct arrivals_append *a, int new_fd)
{
	char stamp[48];
	struct stat st;
	int n;

	if (a->fd < 0)
		return;
	if (fstat(new_fd, &st) == 0) {
		n = arrivals_put_stamp(stamp, sizeof(stamp), &st, "\n");
		if (n > 0 && (size_t)n < sizeof(stamp))
			(void)fileio_write_all(a->fd, stamp, (size_t)n);
	}
	close(a->fd);
	a->fd = -1;
}

void arrivals_abort(struct arrivals_append *a)
{
	if (a->fd < 0)
		return;
	if (a->written)
		(void)!ftruncate(a->fd, a->start);
	close(a->fd);
	a->fd = -1;
}

/* "SEC.NSEC" (nsec exactly 9 digits) into *sec, *nsec. */
static int arrivals_parse_stamp(const char *p, size_t len,
				struct timespec *ts)
{
	const char *dot = memchr(p, '.', len);
	unsigned long long sec = 0;
	long nsec = 0;
	size_t i;

	if (dot == NULL || dot == p || dot - p > 19 ||
	    (size_t)(p + len - dot - 1) != 9)
		return -1;
	for (i = 0; p + i < dot; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		sec = sec * 10 + (unsigned long long)(p[i] - '0');
	}
	for (i = 1; i <= 9; i++) {
		if (dot[i] < '0' || dot[i] > '9')
			return -1;
		nsec = nsec * 10 + (dot[i] - '0');
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = nsec;
	return 0;
}

/* One complete line without its LF. */
static int arrivals_parse_line(char *line, size_t len,
			       struct arrivals_entry *e)
{
	char *f[4], *end = line + len, *p = line;
	size_t flen[4];
	unsigned i;

	for (i = 0; i < 4; i++) {
		char *sp = memchr(p, ' ', (size_t)(end - p));

		f[i] = p;
		flen[i] = (size_t)((sp != NULL ? sp : end) - p);
		if (flen[i] == 0 || (sp == NULL) != (i == 3))
			return -1;
		p = sp != NULL ? sp + 1 : end;
	}
	/* a name the scan of new/ could have found (maildir_scan.c) */
	if (flen[0] > NAME_MAX || f[0][0] == '.' ||
	    memchr(f[0], '/', flen[0]) != NULL ||
	    memchr(f[0], ':', flen[0]) != NULL)
		return -1;
	for (i = 0; i < flen[0]; i++) {
		if ((unsigned char)f[0][i] < 0x21 ||
		    (unsigned char)f[0][i] > 0x7e)
			return -1;
	}
	e->wsize = 0;
	for (i = 0; i < flen[1]; i++) {
		if (f[1][i] < '0' || f[1][i] > '9' || i >= 19)
			return -1;
		e->wsize = e->wsize * 10 + (uint64_t)(f[1][i] - '0');
	}
	if (arrivals_parse_stamp(f[2], flen[2], &e->before) < 0 ||
	    arrivals_parse_stamp(f[3], flen[3], &e->after) < 0)
		return -1;
	f[0][flen[0]] = '\0';
	e->name = f[0];
	e->name_len = flen[0];
	return 0;
}

static void arrivals_parse(struct arrivals *a, size_t len)
{
	char *p = a->text, *end = a->text + len;
	size_t lines = 0;

	for (char *q = p; q < end; q++)
		lines += *q == '\n';
	a->entries = calloc(lines + 1, sizeof(*a->entries));
	if (a->entries == NULL)
		return;
	while (p < end) {
		char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL ||
		    arrivals_parse_line(p, (size_t)(lf - p),
					&a->entries[a->count]) < 0)
			return; /* unended (a crash), a break, junk */
		a->count++;
		p = lf + 1;
	}
	a->intact = true;
}

int arrivals_load(const char *maildir, struct arrivals **a_r)
{
	struct arrivals *a;
	char path[PATH_MAX];
	struct stat st;
	size_t got = 0;
	int fd;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -1;
	*a_r = a;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", maildir,
			     ARRIVALS_NAME) >= sizeof(path))
		return 0; /* not intact */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		a->intact = errno == ENOENT;
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > 2 * ARRIVALS_MAX_SIZE)
		goto out_close;
	a->size = st.st_size;
	a->text = malloc((size_t)st.st_size + 1);
	if (a->text == NULL) {
		close(fd);
		arrivals_free(a_r);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, a->text + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out_close;
		got += (size_t)n;
	}
	a->text[got] = '\0';
	arrivals_parse(a, got);
out_close:
	close(fd);
	return 0;
}

bool arrivals_chain(const struct arrivals *a, int64_t from_sec,
		    int64_t from_nsec, int64_t to_sec, int64_t to_nsec)
{
	int64_t sec = from_sec, nsec = from_nsec;
	size_t i;

	if (!a->intact || a->count == 0)
		return false;
	for (i = 0; i < a->count; i++) {
		const struct arrivals_entry *e = &a->entries[i];

		if ((int64_t)e->before.tv_sec != sec ||
		    (int64_t)e->before.tv_nsec != nsec)
			return false;
		sec = (int64_t)e->after.tv_sec;
		nsec = (int64_t)e->after.tv_nsec;
	}
	return sec == to_sec && nsec == to_nsec;
}

void arrivals_free(struct arrivals **ap)
{
	struct arrivals *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	free(a->entries);
	free(a->text);
	free(a);
}

/* Opens the log for writing under its flock, or -1. */
static int arrivals_open_locked(const char *maildir, int flags)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", maildir,
			     ARRIVALS_NAME) >= sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return -1;
	if (arrivals_lock(fd, NULL, ARRIVALS_TRUNCATE_TRIES) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void arrivals_truncate(const char *maildir, off_t expected)
{
	struct stat st;
	int fd;

	if (expected <= 0)
		return;
	fd = arrivals_open_locked(maildir, 0);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size == expected)
		(void)!ftruncate(fd, 0);
	close(fd);
}

void arrivals_break(const char *maildir)
{
	int fd = arrivals_open_locked(maildir, O_APPEND | O_CREAT);

	if (fd < 0)
		return;
	(void)fileio_write_all(fd, ARRIVALS_BREAK, 2);
	close(fd);
}
