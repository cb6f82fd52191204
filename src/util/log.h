/* log.h: one logging sink for the whole program (stderr, syslog or a file).
 * Lines are prefixed with the process role ("master", "auth", "worker 1").
 * Client text must go through log_sanitize() before it is logged. */
#ifndef SATCHEL_LOG_H
#define SATCHEL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* dest: "stderr", "syslog" or a file path (opened for append).
 * Returns 0, or -1 with *error_r set when the file cannot be opened. */
int log_init(const char *dest, enum log_level level, const char **error_r);
void log_set_role(const char *role);
/* Parses "error", "warn", "info", "debug". Returns -1 on anything else. */
int log_level_parse(const char *name, enum log_level *level_r);
const char *log_level_name(enum log_level level);
/* The descriptor lines go to (a log file's, or stderr), -1 for syslog:
 * for children that close what they inherited but must keep logging. */
int log_output_fd(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies untrusted text into out (size >= 1), replacing CR, LF and other
 * control bytes with '?', truncating to fit. Returns out. */
char *log_sanitize(const char *text, size_t len, char *out, size_t size);

#endif
