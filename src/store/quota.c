/* quota.c: Maildir++ quota, the "maildirsize" file (quota.h).
 *
 * Read at every check (at most QUOTA_FILE_MAX octets, else rebuilt):
 * the first line holds the limits ("1000000S,1000C", either part may be
 * missing), every other line "bytes count", summed; numbers may be padded
 * with blanks and negative (removals), as Courier, Dovecot and maildrop
 * write them. Rebuilt from the directories when the file is missing,
 * does not parse, carries other limits than ours, has grown over
 * QUOTA_FILE_MAX, or says "over quota" while older than
 * QUOTA_RECHECK_SECS (the Maildir++ rule, so drift from a lost update
 * cannot refuse mail for long). The rebuild counts new/ and cur/ of the
 * Maildir and of its Maildir++ folders (".Name/"), as the other programs
 * do: the size is the ,S= of the name, else the file's size. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/quota.h"
#include "util/fileio.h"
#include "util/strnum.h"

#define QUOTA_FILE_NAME "maildirsize"
/* Maildir++: "If the maildirsize file is larger than 5120 bytes,
 * recalculate it" (it grows by one line per change). */
#define QUOTA_FILE_MAX 5120
/* Maildir++: an over-quota answer from a file older than 15 minutes is
 * checked by recalculating. */
#define QUOTA_RECHECK_SECS (15 * 60)

struct quota_usage {
	int64_t bytes;
	int64_t count;
};

static int quota_file_path(const char *maildir, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/" QUOTA_FILE_NAME, maildir);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* One number: blanks, an optional '-', digits. Advances *p. */
static bool quota_parse_num(const char **p, const char *end, int64_t *num_r)
{
	const char *s = *p;
	char digits[24];
	bool neg = false;
	uint64_t v;
	size_t n = 0;

	while (s < end && *s == ' ')
		s++;
	if (s < end && *s == '-') {
		neg = true;
		s++;
	}
	while (s < end && *s >= '0' && *s <= '9') {
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *s++;
	}
	digits[n] = '\0';
	if (strnum_parse_u64(digits, INT64_MAX, &v) < 0)
		return false;
	*num_r = neg ? -(int64_t)v : (int64_t)v;
	*p = s;
	return true;
}

/* "1000000S,1000C": parts in any order, each at most once. */
static bool quota_parse_limits(const char *p, const char *end,
			       struct quota_limits *limits_r)
{
	bool have_s = false, have_c = false;

	limits_r->bytes = limits_r->messages = 0;
	while (p < end) {
		int64_t v;

		if (!quota_parse_num(&p, end, &v) || v < 0 || p >= end)
			return false;
		if (*p == 'S' && !have_s) {
			limits_r->bytes = (uint64_t)v;
			have_s = true;
		} else if (*p == 'C' && !have_c) {
			limits_r->messages = (uint64_t)v;
			have_c = true;
		} else {
			return false;
		}
		p++;
		if (p < end && *p++ != ',')
			return false;
	}
	return true;
}

/* Parses the file's content. False when anything does not parse (a line
 * cut short included: the file is then rebuilt). */
static bool quota_parse(const char *buf, size_t len,
			struct quota_limits *limits_r,
			struct quota_usage *usage_r)
{
	const char *p = buf, *end = buf + len, *nl;

	usage_r->bytes = usage_r->count = 0;
	nl = memchr(p, '\n', len);
	if (nl == NULL || !quota_parse_limits(p, nl, limits_r))
		return false;
	for (p = nl + 1; p < end; p = nl + 1) {
		int64_t bytes, count;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return false;
		if (!quota_parse_num(&p, nl, &bytes) ||
		    !quota_parse_num(&p, nl, &count))
			return false;
		while (p < nl && *p == ' ')
			p++;
		if (p != nl)
			return false;
		/* a sum past int64 is a broken file: rebuild */
		if (__builtin_add_overflow(usage_r->bytes, bytes,
					   &usage_r->bytes) ||
		    __builtin_add_overflow(usage_r->count, count,
					   &usage_r->count))
			return false;
	}
	return true;
}

/* Reads the file: 1 parsed (with its mtime), 0 to be rebuilt (missing,
 * too big, does not parse), -1 on an I/O error. */
static int quota_read(const char *path, struct quota_limits *limits_r,
		      struct quota_usage *usage_r, time_t *mtime_r)
{
	char buf[QUOTA_FILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		ret = -1;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > QUOTA_FILE_MAX)
		goto out_close;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -1;
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > QUOTA_FILE_MAX)
			goto out_close; /* grew while read */
	}
	*mtime_r = st.st_mtime;
	ret = quota_parse(buf, len, limits_r, usage_r) ? 1 : 0;
out_close:
	close(fd);
	return ret;
}

/* The size of a message from ",S=" in its name (up to the ':' of the
 * info part). */
static bool quota_name_size(const char *name, uint64_t *size_r)
{
	const char *colon = strchr(name, ':');
	size_t blen = colon != NULL ? (size_t)(colon - name) : strlen(name);
	const char *s = memmem(name, blen, ",S=", 3);
	char digits[24];
	size_t n = 0;

	if (s == NULL)
		return false;
	for (s += 3; s < name + blen && *s >= '0' && *s <= '9'; s++) {
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *s;
	}
	digits[n] = '\0';
	return strnum_parse_u64(digits, INT64_MAX, size_r) == 0;
}

/* Adds the messages of dir (a new/ or cur/). A missing directory counts
 * nothing; a file gone between readdir and stat is skipped (moved or
 * removed meanwhile). */
static int quota_count_dir(const char *dir, struct quota_usage *usage)
{
	struct dirent *e;
	DIR *d;
	int ret = 0;

	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	while ((errno = 0, e = readdir(d)) != NULL) {
		uint64_t size;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (!quota_name_size(e->d_name, &size)) {
			if (fstatat(dirfd(d), e->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				ret = -1;
				break;
			}
			if (!S_ISREG(st.st_mode))
				continue;
			size = (uint64_t)st.st_size;
		}
		usage->bytes += (int64_t)size;
		usage->count++;
	}
	if (e == NULL && errno != 0)
		ret = -1;
	closedir(d);
	return ret;
}

static int quota_count_folder(const char *folder, struct quota_usage *usage)
{
	static const char *const subs[] = { "new", "cur" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		int n = snprintf(path, sizeof(path), "%s/%s", folder, subs[i]);

		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (quota_count_dir(path, usage) < 0)
			return -1;
	}
	return 0;
}

/* Sums the Maildir and its Maildir++ folders (".Name" directories). */
static int quota_count(const char *maildir, struct quota_usage *usage_r)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = 0;

	usage_r->bytes = usage_r->count = 0;
	if (quota_count_folder(maildir, usage_r) < 0)
		return -1;
	d = opendir(maildir);
	if (d == NULL)
		return -1;
	while ((errno = 0, e = readdir(d)) != NULL) {
		int n;

		if (e->d_name[0] != '.' || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", maildir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    quota_count_folder(path, usage_r) < 0) {
			ret = -1;
			break;
		}
	}
	if (e == NULL && errno != 0)
		ret = -1;
	closedir(d);
	return ret;
}

/* Recounts and writes a new file: the limits line and one sum line. The
 * write is best effort (the sums are returned either way); a failed
 * count is an error. */
static int quota_rebuild(const char *path, const char *maildir,
			 const struct quota_limits *limits,
			 struct quota_usage *usage_r, const char **error_r)
{
	char buf[128];
	const char *ignored;
	int len = 0;

	if (quota_count(maildir, usage_r) < 0) {
		*error_r = "cannot count the Maildir for the quota";
		return -1;
	}
	if (limits->bytes > 0)
		len = snprintf(buf, sizeof(buf), "%" PRIu64 "S",
			       limits->bytes);
	if (limits->messages > 0)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				"%s%" PRIu64 "C", len > 0 ? "," : "",
				limits->messages);
	len += snprintf(buf + len, sizeof(buf) - (size_t)len,
			"\n%" PRId64 " %" PRId64 "\n", usage_r->bytes,
			usage_r->count);
	(void)fileio_replace(path, buf, (size_t)len, 0600, &ignored);
	return 0;
}

static bool quota_is_over(const struct quota_limits *limits,
			  const struct quota_usage *usage, uint64_t size)
{
	uint64_t bytes = usage->bytes > 0 ? (uint64_t)usage->bytes : 0;
	uint64_t count = usage->count > 0 ? (uint64_t)usage->count : 0;

	if (limits->bytes > 0 &&
	    (size > limits->bytes || bytes > limits->bytes - size))
		return true;
	return limits->messages > 0 && count + 1 > limits->messages;
}

int quota_check(const char *maildir, const struct quota_limits *limits,
		uint64_t size, bool *over_r, const char **error_r)
{
	struct quota_limits file_limits;
	struct quota_usage usage;
	char path[PATH_MAX];
	time_t mtime = 0;
	int r;

	*over_r = false;
	if (limits->bytes == 0 && limits->messages == 0)
		return 0;
	if (quota_file_path(maildir, path, sizeof(path)) < 0) {
		*error_r = "the Maildir path is too long";
		return -1;
	}
	r = quota_read(path, &file_limits, &usage, &mtime);
	if (r < 0) {
		*error_r = "cannot read maildirsize";
		return -1;
	}
	if (r == 1 && file_limits.bytes == limits->bytes &&
	    file_limits.messages == limits->messages) {
		*over_r = quota_is_over(limits, &usage, size);
		if (!*over_r || mtime + QUOTA_RECHECK_SECS > time(NULL))
			return 0;
	}
	if (quota_rebuild(path, maildir, limits, &usage, error_r) < 0)
		return -1;
	*over_r = quota_is_over(limits, &usage, size);
	return 0;
}

void quota_add(const char *maildir, const struct quota_limits *limits,
	       int64_t bytes, int64_t count)
{
	char path[PATH_MAX], line[64];
	int fd, len;

	if (limits != NULL && limits->bytes == 0 && limits->messages == 0)
		return;
	if (quota_file_path(maildir, path, sizeof(path)) < 0)
		return;
	/* never created here: a missing file is rebuilt at the next check */
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes,
		       count);
	/* one write with O_APPEND: lines of concurrent writers never mix */
	if (write(fd, line, (size_t)len) != len) {
		/* a short line would make the file unparseable, which only
		 * makes the next check rebuild it */
	}
	close(fd);
}

bool quota_file_exists(const char *maildir)
{
	char path[PATH_MAX];

	return quota_file_path(maildir, path, sizeof(path)) == 0 &&
	       access(path, F_OK) == 0;
}
