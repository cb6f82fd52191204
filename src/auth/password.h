/* password.h: password schemes.
 *
 *   {PLAIN}secret      (also {CLEAR}, {CLEARTEXT}; the only one APOP can use)
 *   {CRYPT}$y$...      yescrypt, $6$ SHA-512-crypt, $2b$ bcrypt via crypt_r
 *   {SHA512-CRYPT}, {BLF-CRYPT}, {SHA256-CRYPT}, {MD5-CRYPT}: Dovecot's names
 *   a bare "$..." hash is treated as {CRYPT}
 *   {SCRAM-SHA-256}, {SCRAM-SHA-1}: Dovecot's stored SCRAM secrets
 *                      (scram.h); USER/PASS and AUTH PLAIN work with them
 *                      too, the PBKDF2 being run on the password sent
 *   {SSHA}, {SSHA256}, {SSHA512}: salted SHA digests as OpenLDAP's
 *                      slappasswd writes them (base64 of the digest of
 *                      password and salt, then the salt); verify only
 *   {LDAP-BIND}dn      no secret: the password is checked by a simple bind
 *                      as dn (userdb_ldap.c with ldap_auth_bind, through
 *                      the hook of password_set_bind); USER/PASS, AUTH
 *                      PLAIN and LOGIN only
 *   {PAM}service       no secret: PAM checks the password (userdb_pam.c,
 *                      through userdb_verify_submit; never here, where
 *                      it matches nothing); USER/PASS, PLAIN, LOGIN only
 * Comparisons are constant-time. */
#ifndef SATCHEL_PASSWORD_H
#define SATCHEL_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/scram.h"

/* True when password matches the stored "{SCHEME}secret". Unknown schemes
 * never match (and are reported once by the caller when loading). */
bool password_verify(const char *stored, const char *password);

enum password_check {
	PASSWORD_MISMATCH,
	PASSWORD_MATCH,
	PASSWORD_UNAVAILABLE,   /* {LDAP-BIND}: the directory could not
				   answer; neither a match nor a wrong
				   password */
};
/* password_verify with the third answer. May block (a bind): run it
 * where blocking is fine (the hash pool). */
enum password_check password_check(const char *stored, const char *password);

/* The check of {LDAP-BIND} secrets: a bind as dn with password (never
 * empty here). Set once, before any check runs; NULL: such secrets are
 * an unknown scheme. */
typedef enum password_check password_bind_fn(const char *dn,
					      const char *password);
void password_set_bind(password_bind_fn *fn);

/* A secret of stored's scheme and cost that no password matches and
 * that names nobody, for the checks of unknown users (auth_db.c):
 * stored itself for a hash; for {LDAP-BIND} the DN with a random value
 * in its first RDN (a bind as it costs a bind as a real user, and can
 * count against no account). 0, or -1 (no room, no randomness). */
int password_dummy_from(const char *stored, char *out, size_t size);

/* True when APOP digest (32 lowercase/uppercase hex) equals
 * MD5(timestamp + plaintext) for a {PLAIN} stored secret. */
bool password_verify_apop(const char *stored, const char *timestamp,
			  const char *digest_hex);

/* True when stored is a plaintext scheme ({PLAIN}, {CLEAR}, {CLEARTEXT}):
 * the only kind APOP (and CRAM-MD5) can use. */
bool password_is_plain(const char *stored);

/* The parsed SCRAM secret when stored is "{SCRAM-SHA-256}..." (hash
 * SCRAM_SHA256) or "{SCRAM-SHA-1}..." (SCRAM_SHA1). 0, or -1 when stored
 * is another scheme or malformed. The caller wipes *secret_r. */
int password_scram(const char *stored, enum scram_hash hash,
		   struct scram_secret *secret_r);

/* The plaintext of a {PLAIN} stored secret, else NULL. Points into
 * stored. */
const char *password_plain_secret(const char *stored);

/* True when the scheme of stored is known (and, for SCRAM, well-formed). */
bool password_scheme_known(const char *stored);

/* Hashes password with scheme "yescrypt" (default), "sha512-crypt",
 * "bcrypt", "plain", "scram-sha-256" or "scram-sha-1", writing
 * "{SCHEME}..." into out. 0 or -1. */
int password_hash(const char *scheme, const char *password,
		  char *out, size_t out_size);

/* Runs a dummy verification with the cost of a real one, so an unknown
 * user takes about as long as a wrong password. */
void password_dummy_verify(const char *password);

#endif
