/* password.c: password schemes: plaintext, crypt(3) hashes, SCRAM secrets,
 * APOP digests. */
#include "auth/password.h"
#include "util/strnum.h"

#include <crypt.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/scram.h"

enum password_kind {
	PASSWORD_UNKNOWN,
	PASSWORD_PLAIN,
	PASSWORD_CRYPT,
	PASSWORD_SCRAM_SHA1,
	PASSWORD_SCRAM_SHA256,
	PASSWORD_SALTED_SHA,  /* base64(digest(password || salt) || salt) */
	PASSWORD_BIND,        /* {LDAP-BIND}dn: a bind decides */
	PASSWORD_EXTERNAL,    /* {PAM}service: the user database checks it
				 (userdb_verify_submit), never a hash here */
};

struct password_scheme {
	const char *name;   /* between the braces, matched case-insensitively */
	enum password_kind kind;
	/* the crypt hash must start with one of these (none: any) */
	const char *prefixes[3];
	const char *digest;  /* PASSWORD_SALTED_SHA: OpenSSL's name */
};

/* Dovecot's scheme names. The named crypt schemes insist on their own
 * hash prefix so that "{SHA512-CRYPT}ab..." cannot fall back to DES;
 * {CRYPT} and bare "$..." take whatever crypt_r() accepts. */
static const struct password_scheme password_schemes[] = {
	{ "PLAIN", PASSWORD_PLAIN, { NULL }, NULL },
	{ "CLEAR", PASSWORD_PLAIN, { NULL }, NULL },
	{ "CLEARTEXT", PASSWORD_PLAIN, { NULL }, NULL },
	{ "CRYPT", PASSWORD_CRYPT, { NULL }, NULL },
	{ "SHA512-CRYPT", PASSWORD_CRYPT, { "$6$" }, NULL },
	{ "SHA256-CRYPT", PASSWORD_CRYPT, { "$5$" }, NULL },
	{ "BLF-CRYPT", PASSWORD_CRYPT, { "$2b$", "$2a$", "$2y$" }, NULL },
	{ "MD5-CRYPT", PASSWORD_CRYPT, { "$1$" }, NULL },
	{ "SCRAM-SHA-1", PASSWORD_SCRAM_SHA1, { NULL }, NULL },
	{ "SCRAM-SHA-256", PASSWORD_SCRAM_SHA256, { NULL }, NULL },
	/* OpenLDAP's slappasswd and Dovecot: salted SHA digests */
	{ "SSHA", PASSWORD_SALTED_SHA, { NULL }, "SHA1" },
	{ "SSHA256", PASSWORD_SALTED_SHA, { NULL }, "SHA256" },
	{ "SSHA512", PASSWORD_SALTED_SHA, { NULL }, "SHA512" },
	{ "LDAP-BIND", PASSWORD_BIND, { NULL }, NULL },
	{ "PAM", PASSWORD_EXTERNAL, { NULL }, NULL },
};

static password_bind_fn *password_bind;

void password_set_bind(password_bind_fn *fn)
{
	password_bind = fn;
}

/* A yescrypt hash at libxcrypt's default cost, the cost password_hash()
 * gives new accounts, of a password nobody knows. */
static const char password_dummy_hash[] =
	"$y$j9T$/x5khmpw3t1bzDTEO2L0x/"
	"$b78QiT8d5CDOwSGq5NQbqIYT/Wb3jh5FkYwaTrf98j0";

/* Hashing cost for new hashes. 0 is libxcrypt's default (yescrypt: j9T);
 * bcrypt's default of 5 and sha512-crypt's 5000 rounds are far cheaper
 * than yescrypt's, so those get a cost of the same order. */
struct password_new_scheme {
	const char *name;
	const char *label;  /* what goes between the braces */
	const char *prefix; /* crypt_gensalt prefix, NULL for plaintext */
	unsigned long count;
};

static const struct password_new_scheme password_new_schemes[] = {
	{ "yescrypt", "CRYPT", "$y$", 0 },
	{ "sha512-crypt", "SHA512-CRYPT", "$6$", 100000 },
	{ "bcrypt", "BLF-CRYPT", "$2b$", 10 },
	{ "plain", "PLAIN", NULL, 0 },
	/* RFC 7677 4. asks for at least 4096 iterations; a little more
	 * costs a client well under 10 ms */
	{ "scram-sha-256", "SCRAM-SHA-256", NULL, 10000 },
	{ "scram-sha-1", "SCRAM-SHA-1", NULL, 10000 },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Splits stored into its scheme and the secret after the braces. */
static const struct password_scheme *
password_scheme_find(const char *stored, const char **secret_r)
{
	static const struct password_scheme bare_crypt = {
		"CRYPT", PASSWORD_CRYPT, { NULL }, NULL
	};
	const char *end;
	size_t len, i;

	if (stored[0] == '$') {
		*secret_r = stored;
		return &bare_crypt;
	}
	if (stored[0] != '{')
		return NULL;
	end = strchr(stored, '}');
	if (end == NULL)
		return NULL;
	len = (size_t)(end - stored - 1);
	for (i = 0; i < ARRAY_SIZE(password_schemes); i++) {
		const struct password_scheme *s = &password_schemes[i];

		if (strlen(s->name) == len &&
		    strncasecmp(s->name, stored + 1, len) == 0) {
			*secret_r = end + 1;
			return s;
		}
	}
	return NULL;
}

static bool password_prefix_ok(const struct password_scheme *s,
			       const char *hash)
{
	size_t i;

	if (s->prefixes[0] == NULL)
		return hash[0] != '\0';
	for (i = 0; i < ARRAY_SIZE(s->prefixes) && s->prefixes[i] != NULL;
	     i++) {
		if (strncmp(hash, s->prefixes[i], strlen(s->prefixes[i])) == 0)
			return true;
	}
	return false;
}

/* The digest and salt of a salted SHA secret (base64), decoded into
 * out: 0 with *digest_r, *len_r (digest, then at least one octet of
 * salt), or -1 when it is malformed. */
static int password_salted_decode(const struct password_scheme *s,
				  const char *secret, unsigned char *out,
				  size_t size, const EVP_MD **digest_r,
				  size_t *len_r)
{
	size_t len = strlen(secret), pad = 0;
	int n;

	*digest_r = EVP_get_digestbyname(s->digest);
	if (*digest_r == NULL || len == 0 || len % 4 != 0 ||
	    len / 4 * 3 > size)
		return -1;
	while (pad < 2 && secret[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)secret, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	*len_r = (size_t)n - pad;  /* DecodeBlock counts the padding */
	if (*len_r <= (size_t)EVP_MD_get_size(*digest_r))
		return -1;
	return 0;
}

/* Salted SHA: the digest of password and the stored salt compared with
 * the stored digest in constant time. */
static bool password_salted_match(const struct password_scheme *s,
				  const char *secret, const char *password)
{
	unsigned char raw[512], got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	size_t len, md_len;
	bool match = false;

	if (password_salted_decode(s, secret, raw, sizeof(raw), &md,
				   &len) < 0)
		return false;
	md_len = (size_t)EVP_MD_get_size(md);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out_wipe;
	if (EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	    EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
	    EVP_DigestUpdate(ctx, raw + md_len, len - md_len) == 1 &&
	    EVP_DigestFinal_ex(ctx, got, &got_len) == 1)
		match = got_len == md_len &&
			CRYPTO_memcmp(got, raw, md_len) == 0;
	EVP_MD_CTX_free(ctx);
out_wipe:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(got, sizeof(got));
	return match;
}

static bool password_salted_ok(const struct password_scheme *s,
			       const char *secret)
{
	unsigned char raw[512];
	const EVP_MD *md;
	size_t len;
	bool ok = password_salted_decode(s, secret, raw, sizeof(raw), &md,
					 &len) == 0;

	explicit_bzero(raw, sizeof(raw));
	return ok;
}

bool password_is_plain(const char *stored)
{
	const struct password_scheme *s;
	const char *secret;

	s = password_scheme_find(stored, &secret);
	return s != NULL && s->kind == PASSWORD_PLAIN;
}

bool password_scheme_known(const char *stored)
{
	const struct password_scheme *s;
	const char *secret;

	s = password_scheme_find(stored, &secret);
	if (s == NULL)
		return false;
	if (s->kind == PASSWORD_SCRAM_SHA1 || s->kind == PASSWORD_SCRAM_SHA256) {
		struct scram_secret scram;
		bool ok;

		ok = password_scram(stored, s->kind == PASSWORD_SCRAM_SHA1 ?
				    SCRAM_SHA1 : SCRAM_SHA256, &scram) == 0;
		scram_secret_clear(&scram);
		return ok;
	}
	if (s->kind == PASSWORD_SALTED_SHA)
		return password_salted_ok(s, secret);
	if (s->kind == PASSWORD_BIND)
		return password_bind != NULL && secret[0] != '\0';
	if (s->kind == PASSWORD_EXTERNAL)
		return secret[0] != '\0';
	return s->kind == PASSWORD_PLAIN || password_prefix_ok(s, secret);
}

int password_scram(const char *stored, enum scram_hash hash,
		   struct scram_secret *secret_r)
{
	const struct password_scheme *s;
	const char *secret, *error;
	enum password_kind want = hash == SCRAM_SHA1 ? PASSWORD_SCRAM_SHA1 :
				  PASSWORD_SCRAM_SHA256;

	s = password_scheme_find(stored, &secret);
	if (s == NULL || s->kind != want)
		return -1;
	return scram_parse(hash, secret, secret_r, &error);
}

const char *password_plain_secret(const char *stored)
{
	const struct password_scheme *s;
	const char *secret;

	s = password_scheme_find(stored, &secret);
	return s != NULL && s->kind == PASSWORD_PLAIN ? secret : NULL;
}

/* Compares two strings of any length in time that depends on neither
 * content nor length: both are reduced to SHA-256 digests first. */
static bool password_equal(const char *a, const char *b)
{
	unsigned char da[32], db[32];
	unsigned int la = 0, lb = 0;
	bool equal = false;

	if (EVP_Digest(a, strlen(a), da, &la, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, strlen(b), db, &lb, EVP_sha256(), NULL) != 1)
		goto out_wipe;
	equal = la == sizeof(da) && lb == sizeof(db) &&
		CRYPTO_memcmp(da, db, sizeof(da)) == 0;
out_wipe:
	explicit_bzero(da, sizeof(da));
	explicit_bzero(db, sizeof(db));
	return equal;
}

/* Runs crypt_r() and compares its output with hash. The crypt_data area
 * (32 KiB) holds password-derived state, hence the wipe. */
static bool password_crypt_match(const char *hash, const char *password)
{
	struct crypt_data *data;
	const char *out;
	bool match = false;

	data = OPENSSL_zalloc(sizeof(*data));
	if (data == NULL)
		return false;
	out = crypt_r(password, hash, data);
	/* libxcrypt signals failure with NULL or a string starting "*" */
	if (out != NULL && out[0] != '*')
		match = password_equal(out, hash);
	OPENSSL_clear_free(data, sizeof(*data));
	return match;
}

static bool password_verify_hash(const struct password_scheme *s,
				 const char *secret, const char *stored,
				 const char *password)
{
	switch (s->kind) {
	case PASSWORD_PLAIN:
		return password_equal(secret, password);
	case PASSWORD_CRYPT:
		if (!password_prefix_ok(s, secret))
			return false;
		return password_crypt_match(secret, password);
	case PASSWORD_SCRAM_SHA1:
	case PASSWORD_SCRAM_SHA256: {
		struct scram_secret scram;
		bool match;

		if (password_scram(stored, s->kind == PASSWORD_SCRAM_SHA1 ?
				   SCRAM_SHA1 : SCRAM_SHA256, &scram) < 0)
			return false;
		match = scram_verify_password(&scram, password);
		scram_secret_clear(&scram);
		return match;
	}
	case PASSWORD_SALTED_SHA:
		return password_salted_match(s, secret, password);
	case PASSWORD_BIND:
	case PASSWORD_EXTERNAL:
	case PASSWORD_UNKNOWN:
		break;
	}
	return false;
}

enum password_check password_check(const char *stored, const char *password)
{
	const struct password_scheme *s;
	const char *secret;

	s = password_scheme_find(stored, &secret);
	if (s == NULL)
		return PASSWORD_MISMATCH;
	if (s->kind == PASSWORD_BIND) {
		/* an empty password would be an unauthenticated bind,
		 * which servers answer with success (RFC 4513 5.1.2) */
		if (password_bind == NULL || secret[0] == '\0' ||
		    password[0] == '\0')
			return PASSWORD_MISMATCH;
		return password_bind(secret, password);
	}
	return password_verify_hash(s, secret, stored, password) ?
	       PASSWORD_MATCH : PASSWORD_MISMATCH;
}

bool password_verify(const char *stored, const char *password)
{
	return password_check(stored, password) == PASSWORD_MATCH;
}

int password_dummy_from(const char *stored, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const struct password_scheme *s;
	const char *secret, *eq, *rest;
	unsigned char rnd[12];
	size_t i, o;
	int n;

	s = password_scheme_find(stored, &secret);
	if (s == NULL || s->kind != PASSWORD_BIND) {
		n = snprintf(out, size, "%s", stored);
		return n < 0 || (size_t)n >= size ? -1 : 0;
	}
	/* "{LDAP-BIND}type=value,parent": type=<random>,parent (a ','
	 * escaped as "\," belongs to the value) */
	eq = strchr(secret, '=');
	for (rest = eq; rest != NULL && *rest != '\0' && *rest != ','; rest++) {
		if (*rest == '\\' && rest[1] != '\0')
			rest++;
	}
	if (eq == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	o = (size_t)(eq + 1 - stored);
	if (o + 2 * sizeof(rnd) + strlen(rest) >= size)
		return -1;
	memcpy(out, stored, o);
	for (i = 0; i < sizeof(rnd); i++) {
		out[o++] = hex[rnd[i] >> 4];
		out[o++] = hex[rnd[i] & 15];
	}
	strcpy(out + o, rest);
	return 0;
}

void password_dummy_verify(const char *password)
{
	(void)password_crypt_match(password_dummy_hash, password);
}

/* RFC 1939 7. APOP: digest = MD5(timestamp || shared secret), sent as 32
 * hex digits. The client's digits are decoded to bytes so case does not
 * matter, then compared in constant time. */
bool password_verify_apop(const char *stored, const char *timestamp,
			  const char *digest_hex)
{
	const struct password_scheme *s;
	const char *secret;
	unsigned char want[16], got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	EVP_MD_CTX *ctx = NULL;
	bool match = false;
	size_t i;

	s = password_scheme_find(stored, &secret);
	if (s == NULL || s->kind != PASSWORD_PLAIN)
		return false;
	if (strlen(digest_hex) != 2 * sizeof(want))
		return false;
	for (i = 0; i < sizeof(want); i++) {
		int hi = strnum_hex_digit(digest_hex[2 * i]);
		int lo = strnum_hex_digit(digest_hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto out_wipe;
		want[i] = (unsigned char)(hi << 4 | lo);
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out_wipe;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) != 1 ||
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1 ||
	    EVP_DigestFinal_ex(ctx, got, &got_len) != 1)
		goto out_free;
	match = got_len == sizeof(want) &&
		CRYPTO_memcmp(got, want, sizeof(want)) == 0;
out_free:
	EVP_MD_CTX_free(ctx);
out_wipe:
	explicit_bzero(got, sizeof(got));
	explicit_bzero(want, sizeof(want));
	return match;
}

/* A plaintext secret is stored inside a ':'-separated line, so it must
 * not contain the separator or a line break. */
static bool password_plain_storable(const char *password)
{
	const unsigned char *p;

	for (p = (const unsigned char *)password; *p != '\0'; p++) {
		if (*p == ':' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

int password_hash(const char *scheme, const char *password,
		  char *out, size_t out_size)
{
	const struct password_new_scheme *ns = NULL;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = NULL;
	const char *hash;
	size_t i;
	int ret = -1, n;

	if (scheme == NULL)
		scheme = "yescrypt";
	for (i = 0; i < ARRAY_SIZE(password_new_schemes); i++) {
		if (strcmp(password_new_schemes[i].name, scheme) == 0)
			ns = &password_new_schemes[i];
	}
	if (ns == NULL || out_size == 0)
		return -1;
	if (strncmp(ns->name, "scram-", 6) == 0)
		return scram_make(strcmp(ns->name, "scram-sha-1") == 0 ?
				  SCRAM_SHA1 : SCRAM_SHA256, password,
				  (unsigned)ns->count, out, out_size);
	if (ns->prefix == NULL) {
		if (!password_plain_storable(password))
			return -1;
		n = snprintf(out, out_size, "{%s}%s", ns->label, password);
		if (n < 0 || (size_t)n >= out_size) {
			explicit_bzero(out, out_size);
			return -1;
		}
		return 0;
	}
	/* NULL random bytes: libxcrypt reads the OS's random source */
	if (crypt_gensalt_rn(ns->prefix, ns->count, NULL, 0,
			     salt, sizeof(salt)) == NULL)
		return -1;
	data = OPENSSL_zalloc(sizeof(*data));
	if (data == NULL)
		return -1;
	hash = crypt_r(password, salt, data);
	if (hash == NULL || hash[0] == '*')
		goto out_free;
	n = snprintf(out, out_size, "{%s}%s", ns->label, hash);
	if (n < 0 || (size_t)n >= out_size)
		goto out_free;
	ret = 0;
out_free:
	OPENSSL_clear_free(data, sizeof(*data));
	return ret;
}
