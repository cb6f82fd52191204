/* log.c: the logging sink (see log.h). One write() per line so lines from
 * several processes sharing stderr or a file do not interleave. */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static int log_use_syslog;
static enum log_level log_max_level = LOG_LEVEL_INFO;
static char log_role[32] = "satchel";

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_init(const char *dest, enum log_level level, const char **error_r)
{
	log_max_level = level;
	if (strcmp(dest, "stderr") == 0) {
		log_use_syslog = 0;
		log_fd = STDERR_FILENO;
		return 0;
	}
	if (strcmp(dest, "syslog") == 0) {
		openlog("satchel", LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_use_syslog = 1;
		return 0;
	}
	int fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	log_use_syslog = 0;
	return 0;
}

int log_output_fd(void)
{
	return log_use_syslog ? -1 : log_fd;
}

void log_set_role(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

int log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

static void log_vwrite(enum log_level level, const char *fmt, va_list args)
{
	static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
					   LOG_DEBUG };
	char line[2048];
	size_t len = 0;
	int n;

	if (level > log_max_level)
		return;
	if (log_use_syslog) {
		vsnprintf(line, sizeof(line), fmt, args);
		syslog(syslog_prio[level], "%s: %s", log_role, line);
		return;
	}
	struct timeval now;
	struct tm tm;
	gettimeofday(&now, NULL);
	localtime_r(&now.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03ld satchel[%d] %s %s: ",
		     (long)now.tv_usec / 1000, (int)getpid(), log_role,
		     level_names[level]);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n
						      : sizeof(line) - len - 1;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, args);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n
						      : sizeof(line) - len - 1;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* Logging must never take the process down; a short write is lost. */
	if (write(log_fd, line, len) < 0)
		return;
}

#define LOG_FUNC(name, level)                                   \
	void name(const char *fmt, ...)                         \
	{                                                       \
		va_list args;                                   \
		int saved_errno = errno;                        \
		va_start(args, fmt);                            \
		log_vwrite(level, fmt, args);                   \
		va_end(args);                                   \
		errno = saved_errno;                            \
	}

LOG_FUNC(log_error, LOG_LEVEL_ERROR)
LOG_FUNC(log_warn, LOG_LEVEL_WARN)
LOG_FUNC(log_info, LOG_LEVEL_INFO)
LOG_FUNC(log_debug, LOG_LEVEL_DEBUG)

char *log_sanitize(const char *text, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
	return out;
}
