/* mailpath.h: turns a mail location ("maildir:PATTERN", "mbox:PATTERN")
 * into one user's maildrop path.
 *
 * PATTERN variables: %u the full user name, %n its local part (before the
 * first '@'), %d its domain (after the first '@', empty when there is
 * none), %% a '%'. A leading "~" or "~/" is the user's home. Anything else
 * after '%' is an error, as is a ':' in PATTERN (Dovecot's location
 * options are not supported, and a silently wrong path is worse).
 *
 * Safety: the caller (the auth process) refuses, before expansion and
 * before even verifying the password, every user name for which
 * mailpath_user_valid() is false, so %u, %n and %d can never climb out
 * of the directory the pattern names. */
#ifndef SATCHEL_MAILPATH_H
#define SATCHEL_MAILPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "store/maildrop.h"

#define MAILPATH_USER_MAX 255

/* True when user is 1..MAILPATH_USER_MAX octets with no '/', no control
 * byte (< 0x20, 0x7f), not starting with '.', with a non-empty local part
 * and a domain (if any) that does not start with '.'. */
bool mailpath_user_valid(const char *user);

/* Splits "maildir:PATTERN" or "mbox:PATTERN". *pattern_r points into
 * location. Returns 0, or -1 with *error_r (unknown kind, empty pattern). */
int mailpath_parse(const char *location, enum maildrop_kind *kind_r,
		   const char **pattern_r, const char **error_r);

/* Expands pattern for user (whose home may be NULL) into out. Returns 0,
 * or -1 with *error_r: invalid user, unknown variable, "~" without a home,
 * a result that is not an absolute path, or one that does not fit in
 * out_size (out then holds an empty string). */
int mailpath_expand(const char *pattern, const char *user, const char *home,
		    char *out, size_t out_size, const char **error_r);

#endif
