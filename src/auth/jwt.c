/* jwt.c: JWT signature and claim checks with OpenSSL and jansson (see
 * jwt.h for the exact rules). */
#include "auth/jwt.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* RS256 below 2048 bits is refused (NIST SP 800-131A). */
#define JWT_RSA_MIN_BITS 2048
/* ES256: r and s, 32 octets each (RFC 7518 3.4). */
#define JWT_ES256_SIG_LEN 64
/* Header and claims are small; anything bigger is not a token of ours. */
#define JWT_JSON_MAX 8192

enum jwt_alg { JWT_RS256, JWT_ES256 };

struct jwt_key {
	EVP_PKEY *pkey;
	enum jwt_alg alg;
};

/* ---- keys ---- */

static EVP_PKEY *jwt_read_pem(const char *path)
{
	EVP_PKEY *pkey = NULL;
	X509 *cert;
	BIO *bio;

	bio = BIO_new_file(path, "r");
	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (pkey == NULL) {
		/* not a bare public key: a certificate then */
		(void)BIO_reset(bio);
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (cert != NULL) {
			pkey = X509_get_pubkey(cert);
			X509_free(cert);
		}
	}
	BIO_free(bio);
	return pkey;
}

int jwt_key_load(const char *path, struct jwt_key **key_r,
		 const char **error_r)
{
	struct jwt_key *key;
	EVP_PKEY *pkey;
	char group[64];

	pkey = jwt_read_pem(path);
	if (pkey == NULL) {
		*error_r = "cannot read a PEM public key or certificate";
		return -1;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		EVP_PKEY_free(pkey);
		*error_r = "out of memory";
		return -1;
	}
	key->pkey = pkey;
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (EVP_PKEY_get_bits(pkey) < JWT_RSA_MIN_BITS) {
			*error_r = "RSA key shorter than 2048 bits";
			goto out_fail;
		}
		key->alg = JWT_RS256;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(
			    pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
			    sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			*error_r = "EC key not on P-256 (ES256 only)";
			goto out_fail;
		}
		key->alg = JWT_ES256;
	} else {
		*error_r = "key is neither RSA nor EC P-256";
		goto out_fail;
	}
	*key_r = key;
	return 0;
out_fail:
	jwt_key_destroy(&key);
	return -1;
}

void jwt_key_destroy(struct jwt_key **keyp)
{
	struct jwt_key *key = *keyp;

	if (key == NULL)
		return;
	*keyp = NULL;
	EVP_PKEY_free(key->pkey);
	free(key);
}

const char *jwt_key_alg(const struct jwt_key *key)
{
	return key->alg == JWT_RS256 ? "RS256" : "ES256";
}

/* ---- base64url (RFC 4648 5., no padding as RFC 7515 2. says) ---- */

/* Decodes len characters of base64url into a new buffer (NUL-terminated
 * for JSON convenience). NULL on a character outside the alphabet, an
 * impossible length or out of memory. */
static unsigned char *jwt_b64url_decode(const char *in, size_t len,
					size_t *out_len_r)
{
	size_t i, pad = (4 - len % 4) % 4, std_len = len + pad;
	unsigned char *out;
	char *std;
	int n;

	if (len == 0 || len % 4 == 1 || len > JWT_TOKEN_MAX)
		return NULL;
	std = malloc(std_len + 1);
	out = malloc(std_len / 4 * 3 + 1);
	if (std == NULL || out == NULL)
		goto out_fail;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9'))
			std[i] = c;
		else if (c == '-')
			std[i] = '+';
		else if (c == '_')
			std[i] = '/';
		else
			goto out_fail;
	}
	memset(std + len, '=', pad);
	std[std_len] = '\0';
	/* the alphabet was checked above, so no whitespace reaches
	 * EVP_DecodeBlock; it counts padding as zero octets */
	n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)std_len);
	if (n < 0 || (size_t)n < pad)
		goto out_fail;
	*out_len_r = (size_t)n - pad;
	out[*out_len_r] = '\0';
	free(std);
	return out;
out_fail:
	free(std);
	free(out);
	return NULL;
}

/* A JSON object from base64url text; NULL when it is not one. */
static json_t *jwt_json_part(const char *in, size_t len)
{
	unsigned char *raw;
	size_t raw_len = 0;
	json_t *obj;

	raw = jwt_b64url_decode(in, len, &raw_len);
	if (raw == NULL)
		return NULL;
	obj = raw_len <= JWT_JSON_MAX ?
	      json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES,
			 NULL) : NULL;
	explicit_bzero(raw, raw_len);
	free(raw);
	if (obj != NULL && !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* ---- signature ---- */

/* ES256 carries r||s (RFC 7518 3.4); OpenSSL verifies DER. */
static unsigned char *jwt_es256_der(const unsigned char *sig,
				    size_t *der_len_r)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL);
	BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int n;

	if (es == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*der_len_r = (size_t)n;
	return der;
}

static bool jwt_signature_ok(const struct jwt_key *key, const char *signed_part,
			     size_t signed_len, const unsigned char *sig,
			     size_t sig_len)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	EVP_MD_CTX *md;
	bool ok = false;

	if (key->alg == JWT_ES256) {
		if (sig_len != JWT_ES256_SIG_LEN)
			return false;
		der = jwt_es256_der(sig, &der_len);
		if (der == NULL)
			return false;
		sig = der;
		sig_len = der_len;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
		return false;
	}
	md = EVP_MD_CTX_new();
	/* RSA keys default to PKCS#1 v1.5 padding: RS256 (RFC 7518 3.3) */
	ok = md != NULL &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
				  key->pkey) == 1 &&
	     EVP_DigestVerify(md, sig, sig_len,
			      (const unsigned char *)signed_part,
			      signed_len) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return ok;
}

/* ---- claims ---- */

/* A NumericDate (RFC 7519 2.): integer or finite real seconds. 1 when
 * present and valid, 0 when absent, -1 when of the wrong type. */
static int jwt_time(const json_t *claims, const char *name, int64_t *t_r)
{
	const json_t *v = json_object_get(claims, name);
	double d;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*t_r = (int64_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (!isfinite(d) || d < -1e15 || d > 1e15)
		return -1;
	*t_r = (int64_t)floor(d);
	return 1;
}

/* The string member name, or NULL when absent, not a string, or holding
 * a NUL (jansson allows \u0000; C strings would cut it). */
static const char *jwt_string(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	return strlen(s) == json_string_length(v) ? s : NULL;
}

static bool jwt_audience_ok(const json_t *claims, const char *audience)
{
	const json_t *aud = json_object_get(claims, "aud"), *item;
	size_t i;

	/* RFC 7519 4.1.3: a single string or an array of strings */
	if (json_is_string(aud))
		return json_string_length(aud) == strlen(audience) &&
		       strcmp(json_string_value(aud), audience) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, item) {
		if (json_is_string(item) &&
		    json_string_length(item) == strlen(audience) &&
		    strcmp(json_string_value(item), audience) == 0)
			return true;
	}
	return false;
}

static int jwt_check_header(const struct jwt_key *key, const json_t *hdr,
			    const char **error_r)
{
	const char *alg = jwt_string(hdr, "alg"), *typ;

	/* exact, case-sensitive (RFC 7515 4.1.1); never "none" or HS* */
	if (alg == NULL || strcmp(alg, jwt_key_alg(key)) != 0) {
		*error_r = "token algorithm is not the configured one";
		return -1;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		*error_r = "token header has critical extensions";
		return -1;
	}
	if (json_object_get(hdr, "typ") != NULL) {
		typ = jwt_string(hdr, "typ");
		if (typ == NULL || (strcasecmp(typ, "JWT") != 0 &&
				    strcasecmp(typ, "at+jwt") != 0)) {
			*error_r = "token type is not JWT";
			return -1;
		}
	}
	return 0;
}

static int jwt_check_claims(const json_t *claims,
			    const struct jwt_policy *policy, char *user_r,
			    size_t user_size, const char **error_r)
{
	int64_t now = (int64_t)policy->now, exp = 0, nbf = 0, iat = 0;
	const char *iss, *user;
	int r;

	r = jwt_time(claims, "exp", &exp);
	if (r <= 0) {
		*error_r = "token without a valid exp claim";
		return -1;
	}
	/* RFC 7519 4.1.4: now must be before exp */
	if (now >= exp + JWT_LEEWAY) {
		*error_r = "token expired";
		return -1;
	}
	r = jwt_time(claims, "nbf", &nbf);
	if (r < 0 || (r > 0 && nbf > now + JWT_LEEWAY)) {
		*error_r = "token not yet valid (nbf)";
		return -1;
	}
	r = jwt_time(claims, "iat", &iat);
	if (r < 0 || (r > 0 && iat > now + JWT_LEEWAY)) {
		*error_r = "token issued in the future (iat)";
		return -1;
	}
	iss = jwt_string(claims, "iss");
	if (iss == NULL || strcmp(iss, policy->issuer) != 0) {
		*error_r = "token from another issuer";
		return -1;
	}
	if (!jwt_audience_ok(claims, policy->audience)) {
		*error_r = "token for another audience";
		return -1;
	}
	user = jwt_string(claims, policy->user_claim);
	if (user == NULL || user[0] == '\0' || strlen(user) >= user_size) {
		*error_r = "token without a usable user claim";
		return -1;
	}
	memcpy(user_r, user, strlen(user) + 1);
	return 0;
}

int jwt_verify(const struct jwt_key *key, const char *token, size_t len,
	       const struct jwt_policy *policy, char *user_r,
	       size_t user_size, const char **error_r)
{
	const char *dot1, *dot2, *end = token + len;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	json_t *hdr = NULL, *claims = NULL;
	int ret = -1;

	if (user_size > 0)
		user_r[0] = '\0';
	*error_r = "malformed token";
	if (len == 0 || len > JWT_TOKEN_MAX)
		return -1;
	/* JWS compact serialization: header.payload.signature */
	dot1 = memchr(token, '.', len);
	dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) :
	       NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
		return -1;
	hdr = jwt_json_part(token, (size_t)(dot1 - token));
	if (hdr == NULL)
		goto out;
	if (jwt_check_header(key, hdr, error_r) < 0)
		goto out;
	sig = jwt_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), &sig_len);
	if (sig == NULL) {
		*error_r = "malformed token signature";
		goto out;
	}
	/* the signature first: claims of an unsigned token mean nothing */
	if (!jwt_signature_ok(key, token, (size_t)(dot2 - token), sig,
			      sig_len)) {
		*error_r = "bad token signature";
		goto out;
	}
	claims = jwt_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (claims == NULL) {
		*error_r = "malformed token claims";
		goto out;
	}
	ret = jwt_check_claims(claims, policy, user_r, user_size, error_r);
out:
	free(sig);
	json_decref(hdr);
	json_decref(claims);
	return ret;
}
