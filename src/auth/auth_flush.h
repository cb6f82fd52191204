/* auth_flush.h: `satchel auth flush [USER]`: asks the running auth
 * processes to forget what they hold about a user (or everyone), so the
 * next login asks the database. The request is a line appended to
 * state_dir/auth-flush (O_APPEND, one write, so concurrent requests do
 * not mix); every auth process of the node reads the new lines at its
 * next request and at least once a second (auth_db_flush_poll). The
 * command never touches the database: to flush every node, NOTIFY the
 * channel (docs/admin.md). */
#ifndef SATCHEL_AUTH_FLUSH_H
#define SATCHEL_AUTH_FLUSH_H

#include <stddef.h>

/* state_dir/auth-flush into buf. 0, or -1 when it does not fit. */
int auth_flush_path(const char *state_dir, char *buf, size_t size);
/* Appends the request for user (NULL: everyone). The file grows past
 * AUTH_FLUSH_MAX_SIZE: it is replaced by the one line. 0, or -1 with
 * *error_r (errno set). */
int auth_flush_request(const char *state_dir, const char *user,
		       const char **error_r);

#define AUTH_FLUSH_MAX_SIZE 65536

#endif
