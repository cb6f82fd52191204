/* fetch_password.h: the secret of a fetch account: from a file (its
 * first line; refused unless only its owner may read it), from a
 * command (the first line of its output: a password manager, an OAuth
 * token helper), or typed at the terminal (echo off). */
#ifndef SATCHEL_FETCH_PASSWORD_H
#define SATCHEL_FETCH_PASSWORD_H

#include <stddef.h>

/* OAuth access tokens run to a few KB (Microsoft's are ~2 KB). */
#define FETCH_PASSWORD_MAX 8192

/* Reads the secret into out (NUL-terminated, its line end removed).
 * file or command (not both) may be NULL; both NULL: the terminal, or
 * an error without one. 0, or -1 with *error_r (static text). */
int fetch_password_get(const char *file, const char *command,
		       const char *prompt_for, char *out, size_t size,
		       const char **error_r);

#endif
