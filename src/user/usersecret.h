/* usersecret.h: the password side of `satchel user`: reading a new
 * password (the terminal, echo off, asked twice; or one line of stdin)
 * and turning it into the stored forms of the schemes asked for.
 *
 * SCHEME lists are "a,b,c" of: yescrypt sha512-crypt bcrypt plain
 * scram-sha-256 scram-sha-1. The first goes in the password field, the
 * others in secret= fields; plain always goes first, as a plaintext
 * password may hold blanks, which secret= fields cannot. */
#ifndef SATCHEL_USERSECRET_H
#define SATCHEL_USERSECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/passwd.h"

/* RFC 2449 caps a command line at 255 octets, so a longer password could
 * never be sent with PASS anyway */
#define USERSECRET_PASSWORD_MAX 255
#define USERSECRET_HASH_MAX 512
/* the password field plus its secret= companions */
#define USERSECRET_SCHEMES_MAX (1 + PASSWD_SECRETS_MAX)
#define USERSECRET_EXTRAS_MAX (PASSWD_SECRETS_MAX * USERSECRET_HASH_MAX)

/* True when list names known schemes, each once, at most
 * USERSECRET_SCHEMES_MAX of them. */
bool usersecret_schemes_valid(const char *list);

/* Reads the password (from stdin when use_stdin, else the terminal) and
 * stores "{SCHEME}..." of the first scheme in hash and " secret=..." of
 * the others in extras ("" for one scheme); notes on stderr which
 * mechanisms the result allows. Returns EX_OK, or EX_DATAERR (no, empty,
 * too long or unusable password; no terminal) or EX_SOFTWARE (hashing
 * failed), with the reason on stderr and both buffers wiped. */
int usersecret_make(const char *schemes, bool use_stdin, char *hash,
		    size_t hash_size, char *extras, size_t extras_size);

#endif
