/* scram.c: parsing, making and checking stored SCRAM secrets (see
 * scram.h). */
#include "auth/scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsasl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util/strnum.h"

#define SCRAM_NEW_SALT 16

const EVP_MD *scram_md(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t scram_key_len(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? 20 : 32;
}

const char *scram_scheme_name(enum scram_hash hash)
{
	return hash == SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

void scram_secret_clear(struct scram_secret *secret)
{
	explicit_bzero(secret, sizeof(*secret));
}

/* Copies the next ','-separated field of *text into out. */
static int scram_field(const char **text, char *out, size_t size)
{
	const char *end = strchr(*text, ',');
	size_t len = end != NULL ? (size_t)(end - *text) : strlen(*text);

	if (len == 0 || len >= size)
		return -1;
	memcpy(out, *text, len);
	out[len] = '\0';
	*text += len + (end != NULL ? 1 : 0);
	return end != NULL ? 1 : 0;
}

/* Strict base64 (gsasl's decoder refuses blanks and bad padding) into
 * out; the decoded length must lie in [min, max]. */
static int scram_b64(const char *b64, unsigned char *out, size_t min,
		     size_t max, size_t *len_r)
{
	char *bin = NULL;
	size_t len = 0;

	if (gsasl_base64_from(b64, strlen(b64), &bin, &len) != GSASL_OK)
		return -1;
	if (len < min || len > max) {
		if (bin != NULL)
			explicit_bzero(bin, len);
		gsasl_free(bin);
		return -1;
	}
	memcpy(out, bin, len);
	explicit_bzero(bin, len);
	gsasl_free(bin);
	*len_r = len;
	return 0;
}

int scram_parse(enum scram_hash hash, const char *text,
		struct scram_secret *secret_r, const char **error_r)
{
	struct scram_secret *s = secret_r;
	char iter[16];
	uint64_t n;
	size_t len;

	memset(s, 0, sizeof(*s));
	s->hash = hash;
	s->key_len = scram_key_len(hash);
	if (scram_field(&text, iter, sizeof(iter)) != 1 ||
	    scram_field(&text, s->salt_b64, sizeof(s->salt_b64)) != 1 ||
	    scram_field(&text, s->stored_b64, sizeof(s->stored_b64)) != 1 ||
	    scram_field(&text, s->server_b64, sizeof(s->server_b64)) != 0) {
		*error_r = "expected ITER,SALT,STOREDKEY,SERVERKEY";
		goto out_fail;
	}
	if (strnum_parse_u64(iter, SCRAM_ITER_MAX, &n) < 0 || n == 0) {
		*error_r = "bad SCRAM iteration count";
		goto out_fail;
	}
	s->iter = (unsigned)n;
	if (scram_b64(s->salt_b64, s->salt, 1, sizeof(s->salt),
		      &s->salt_len) < 0) {
		*error_r = "bad SCRAM salt";
		goto out_fail;
	}
	if (scram_b64(s->stored_b64, s->stored_key, s->key_len, s->key_len,
		      &len) < 0 ||
	    scram_b64(s->server_b64, s->server_key, s->key_len, s->key_len,
		      &len) < 0) {
		*error_r = "bad SCRAM key (base64 of the hash's length)";
		goto out_fail;
	}
	return 0;

out_fail:
	scram_secret_clear(s);
	return -1;
}

/* RFC 5802 2.2 Normalize(): SASLprep as a stored string; a password it
 * refuses is used as it is (the client does the same or fails). */
static char *scram_normalize(const char *password)
{
	char *out = NULL;

	if (gsasl_saslprep(password, 0, &out, NULL) == GSASL_OK)
		return out;
	return strdup(password);
}

/* SaltedPassword, ClientKey -> StoredKey and ServerKey (RFC 5802 3.). */
int scram_keys_from_password(enum scram_hash hash, const char *password,
			     const unsigned char *salt, size_t salt_len,
			     unsigned iter, unsigned char *stored,
			     unsigned char *server)
{
	const EVP_MD *md = scram_md(hash);
	size_t klen = scram_key_len(hash);
	unsigned char salted[SCRAM_KEY_MAX], client[SCRAM_KEY_MAX];
	unsigned int len = 0;
	char *norm;
	int ret = -1;

	norm = scram_normalize(password);
	if (norm == NULL)
		return -1;
	if (PKCS5_PBKDF2_HMAC(norm, (int)strlen(norm), salt, (int)salt_len,
			      (int)iter, md, (int)klen, salted) != 1)
		goto out_wipe;
	if (HMAC(md, salted, (int)klen, (const unsigned char *)"Client Key",
		 10, client, &len) == NULL || len != klen)
		goto out_wipe;
	if (EVP_Digest(client, klen, stored, &len, md, NULL) != 1 ||
	    len != klen)
		goto out_wipe;
	if (server != NULL &&
	    (HMAC(md, salted, (int)klen, (const unsigned char *)"Server Key",
		  10, server, &len) == NULL || len != klen))
		goto out_wipe;
	ret = 0;
out_wipe:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client, sizeof(client));
	explicit_bzero(norm, strlen(norm));
	free(norm);
	return ret;
}

bool scram_verify_password(const struct scram_secret *secret,
			   const char *password)
{
	unsigned char stored[SCRAM_KEY_MAX];
	bool match;

	if (scram_keys_from_password(secret->hash, password, secret->salt,
				     secret->salt_len, secret->iter, stored,
				     NULL) < 0)
		return false;
	match = CRYPTO_memcmp(stored, secret->stored_key,
			      secret->key_len) == 0;
	explicit_bzero(stored, sizeof(stored));
	return match;
}

static int scram_b64_to(const unsigned char *in, size_t len, char *out,
			size_t size)
{
	char *b64 = NULL;
	size_t b64_len = 0;
	int ret = -1;

	if (gsasl_base64_to((const char *)in, len, &b64, &b64_len) !=
	    GSASL_OK)
		return -1;
	if (b64_len < size) {
		memcpy(out, b64, b64_len + 1);
		ret = 0;
	}
	gsasl_free(b64);
	return ret;
}

int scram_make(enum scram_hash hash, const char *password, unsigned iter,
	       char *out, size_t out_size)
{
	unsigned char salt[SCRAM_NEW_SALT], stored[SCRAM_KEY_MAX],
		      server[SCRAM_KEY_MAX];
	char salt64[SCRAM_B64_MAX], stored64[SCRAM_B64_MAX],
	     server64[SCRAM_B64_MAX];
	size_t klen = scram_key_len(hash);
	int n, ret = -1;

	if (iter == 0 || iter > SCRAM_ITER_MAX ||
	    RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	if (scram_keys_from_password(hash, password, salt, sizeof(salt), iter,
				     stored, server) < 0)
		goto out_wipe;
	if (scram_b64_to(salt, sizeof(salt), salt64, sizeof(salt64)) < 0 ||
	    scram_b64_to(stored, klen, stored64, sizeof(stored64)) < 0 ||
	    scram_b64_to(server, klen, server64, sizeof(server64)) < 0)
		goto out_wipe;
	n = snprintf(out, out_size, "{%s}%u,%s,%s,%s", scram_scheme_name(hash),
		     iter, salt64, stored64, server64);
	if (n < 0 || (size_t)n >= out_size) {
		explicit_bzero(out, out_size);
		goto out_wipe;
	}
	ret = 0;
out_wipe:
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(server, sizeof(server));
	explicit_bzero(stored64, sizeof(stored64));
	explicit_bzero(server64, sizeof(server64));
	return ret;
}
