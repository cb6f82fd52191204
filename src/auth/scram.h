/* scram.h: SCRAM secrets (RFC 5802, RFC 7677) as stored in the
 * passwd-file, in Dovecot's format so its files work unchanged:
 *
 *   {SCRAM-SHA-256}ITER,SALT,STOREDKEY,SERVERKEY
 *   {SCRAM-SHA-1}ITER,SALT,STOREDKEY,SERVERKEY
 *
 * ITER is the PBKDF2 iteration count (decimal), the others are base64.
 * StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
 * HMAC(SaltedPassword, "Server Key") (RFC 5802 3.): enough for a server
 * to verify a SCRAM proof and to prove itself, not to log in elsewhere
 * with a plain password. */
#ifndef SATCHEL_SCRAM_H
#define SATCHEL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "auth/auth_limits.h"

enum scram_hash { SCRAM_SHA1, SCRAM_SHA256 };

#define SCRAM_KEY_MAX 32          /* SHA-256 output */
#define SCRAM_SALT_MAX 64         /* octets; Dovecot uses 16, we use 16 */
#define SCRAM_B64_MAX 96          /* base64 of the largest field, + NUL */

struct scram_secret {
	enum scram_hash hash;
	unsigned iter;
	size_t key_len;                        /* 20 or 32 */
	char salt_b64[SCRAM_B64_MAX];          /* as gsasl wants it */
	char stored_b64[SCRAM_B64_MAX];
	char server_b64[SCRAM_B64_MAX];
	unsigned char stored_key[SCRAM_KEY_MAX];
	unsigned char server_key[SCRAM_KEY_MAX];
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len;
};

/* The scheme name between the braces, "SCRAM-SHA-256" / "SCRAM-SHA-1". */
const char *scram_scheme_name(enum scram_hash hash);

/* Parses the text after "{SCRAM-...}". 0, or -1 with *error_r (bad
 * count, bad base64, key of the wrong length for hash). */
int scram_parse(enum scram_hash hash, const char *text,
		struct scram_secret *secret_r, const char **error_r);

/* Derives a new secret from password with a random 16-octet salt and
 * iter iterations (PBKDF2 from OpenSSL), writing "{SCRAM-...}..." into
 * out. 0 or -1. The password is SASLprep'ed first, as clients do. */
int scram_make(enum scram_hash hash, const char *password, unsigned iter,
	       char *out, size_t out_size);

/* StoredKey and ServerKey (key_len octets each: 20 or 32) from
 * password, salt and iter (RFC 5802 3.), as scram_make() and SCRAM
 * logins of users with only a {PLAIN} secret need them. 0 or -1. */
int scram_keys_from_password(enum scram_hash hash, const char *password,
			     const unsigned char *salt, size_t salt_len,
			     unsigned iter, unsigned char *stored_key,
			     unsigned char *server_key);

/* The hash's digest and its length in octets. */
const EVP_MD *scram_md(enum scram_hash hash);
size_t scram_key_len(enum scram_hash hash);

/* True when password (USER/PASS, AUTH PLAIN) derives secret's
 * StoredKey. Constant-time comparison. */
bool scram_verify_password(const struct scram_secret *secret,
			   const char *password);

/* Wipes the secret. */
void scram_secret_clear(struct scram_secret *secret);

#endif
