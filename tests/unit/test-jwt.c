/* test-jwt.c: JWT checks (jwt.c) with keys and tokens made here with
 * OpenSSL: good RS256 and ES256 tokens, expiry and leeway, nbf/iat,
 * wrong signatures and keys, "none", HS256 keyed with the public key,
 * wrong iss/aud, missing claims, malformed base64 and JSON; then the
 * OAUTHBEARER and XOAUTH2 message parsing of sasl_oauth.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt.h"
#include "auth/sasl_oauth.h"
#include "config/config.h"
#include "unit.h"

static char tmpdir[] = "/tmp/test-jwt.XXXXXX";
static char path_rsa[256], path_ec[256], path_rsa_small[256],
	    path_p384[256], path_garbage[256];
static EVP_PKEY *rsa, *ec, *rsa_other;
static time_t now;

/* ---- token making ---- */

static void b64url(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	for (int i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
}

/* Signs "b64(header).b64(claims)" with pkey (RS256 or ES256 by key
 * type), or with HMAC-SHA256 keyed by hmac_key, or not at all (pkey and
 * hmac_key NULL: an empty signature). */
static char *make_token(EVP_PKEY *pkey, const char *header,
			const char *claims, const char *hmac_key)
{
	static char tok[8192];
	unsigned char sig[1024], raw[64];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *md;
	size_t n;

	b64url((const unsigned char *)header, strlen(header), tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64url((const unsigned char *)claims, strlen(claims), tok + n);
	n = strlen(tok);
	if (hmac_key != NULL) {
		unsigned int hl = 0;

		HMAC(EVP_sha256(), hmac_key, (int)strlen(hmac_key),
		     (unsigned char *)tok, n, sig, &hl);
		sig_len = hl;
	} else if (pkey != NULL) {
		md = EVP_MD_CTX_new();
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
				       pkey) != 1 ||
		    EVP_DigestSign(md, sig, &sig_len, (unsigned char *)tok,
				   n) != 1)
			exit(2);
		EVP_MD_CTX_free(md);
		if (EVP_PKEY_is_a(pkey, "EC")) {
			const unsigned char *p = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
			const BIGNUM *r, *s;

			ECDSA_SIG_get0(es, &r, &s);
			BN_bn2binpad(r, raw, 32);
			BN_bn2binpad(s, raw + 32, 32);
			ECDSA_SIG_free(es);
			memcpy(sig, raw, 64);
			sig_len = 64;
		}
	} else {
		sig_len = 0;
	}
	tok[n++] = '.';
	b64url(sig, sig_len, tok + n);
	return tok;
}

static const char *claims_fmt(const char *extra, long exp_off)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		 "\"sub\":\"1234\",\"email\":\"alice@example.org\","
		 "\"iat\":%ld,\"exp\":%ld%s}", (long)now - 10,
		 (long)now + exp_off, extra);
	return buf;
}

#define RS_HDR "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define ES_HDR "{\"alg\":\"ES256\"}"

static int verify(const struct jwt_key *key, const char *tok,
		  const char **why)
{
	struct jwt_policy pol = { "https://idp.test", "pop.test", "email",
				  now };
	char user[256];

	return jwt_verify(key, tok, strlen(tok), &pol, user, sizeof(user),
			  why);
}

/* ---- keys ---- */

static EVP_PKEY *keygen(const char *type, const char *param, int bits)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *k = NULL;

	if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1)
		exit(2);
	if (param != NULL)
		EVP_PKEY_CTX_set_group_name(kc, param);
	if (bits > 0)
		EVP_PKEY_CTX_set_rsa_keygen_bits(kc, bits);
	if (EVP_PKEY_keygen(kc, &k) != 1)
		exit(2);
	EVP_PKEY_CTX_free(kc);
	return k;
}

static void write_pub(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || PEM_write_PUBKEY(f, k) != 1)
		exit(2);
	fclose(f);
}

static char *pub_pem(EVP_PKEY *k)
{
	static char buf[4096];
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	PEM_write_bio_PUBKEY(b, k);
	n = BIO_read(b, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return buf;
}

static void test_keys(void)
{
	struct jwt_key *key = NULL;
	const char *why = NULL;
	EVP_PKEY *small = keygen("RSA", NULL, 1024);
	EVP_PKEY *p384 = keygen("EC", "secp384r1", 0);
	FILE *f;

	write_pub(small, path_rsa_small);
	write_pub(p384, path_p384);
	f = fopen(path_garbage, "w");
	fputs("-----BEGIN PUBLIC KEY-----\nnope\n"
	      "-----END PUBLIC KEY-----\n", f);
	fclose(f);
	CHECK(jwt_key_load(path_rsa, &key, &why) == 0 &&
	      strcmp(jwt_key_alg(key), "RS256") == 0, "RSA key: RS256");
	jwt_key_destroy(&key);
	CHECK(key == NULL, "destroy sets NULL");
	CHECK(jwt_key_load(path_ec, &key, &why) == 0 &&
	      strcmp(jwt_key_alg(key), "ES256") == 0, "P-256 key: ES256");
	jwt_key_destroy(&key);
	CHECK(jwt_key_load(path_rsa_small, &key, &why) < 0 &&
	      strstr(why, "2048") != NULL, "RSA-1024 refused");
	CHECK(jwt_key_load(path_p384, &key, &why) < 0, "P-384 refused");
	CHECK(jwt_key_load(path_garbage, &key, &why) < 0, "garbage PEM");
	CHECK(jwt_key_load("/nonexistent/key.pem", &key, &why) < 0,
	      "missing file");
	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
}

static void test_tokens(void)
{
	struct jwt_key *rk = NULL, *ek = NULL;
	struct jwt_policy pol = { "https://idp.test", "pop.test", "email",
				  now };
	const char *why = NULL;
	char user[256], tok[8192], *t;
	size_t n;

	if (jwt_key_load(path_rsa, &rk, &why) < 0 ||
	    jwt_key_load(path_ec, &ek, &why) < 0)
		exit(2);

	t = make_token(rsa, RS_HDR, claims_fmt("", 300), NULL);
	CHECK(jwt_verify(rk, t, strlen(t), &pol, user, sizeof(user),
			 &why) == 0 && strcmp(user, "alice@example.org") == 0,
	      "good RS256 token, email claim");
	pol.user_claim = "sub";
	CHECK(jwt_verify(rk, t, strlen(t), &pol, user, sizeof(user),
			 &why) == 0 && strcmp(user, "1234") == 0,
	      "user claim sub");
	pol.user_claim = "nosuch";
	CHECK(jwt_verify(rk, t, strlen(t), &pol, user, sizeof(user),
			 &why) < 0 && user[0] == '\0', "missing user claim");
	t = make_token(ec, ES_HDR, claims_fmt("", 300), NULL);
	CHECK(verify(ek, t, &why) == 0, "good ES256 token");
	CHECK(verify(rk, t, &why) < 0, "ES256 token against the RSA key");
	t = make_token(rsa, RS_HDR, claims_fmt("", 300), NULL);
	CHECK(verify(ek, t, &why) < 0, "RS256 token against the EC key");

	/* time */
	t = make_token(rsa, RS_HDR, claims_fmt("", -120), NULL);
	CHECK(verify(rk, t, &why) < 0 && strcmp(why, "token expired") == 0,
	      "expired token");
	t = make_token(rsa, RS_HDR, claims_fmt("", -30), NULL);
	CHECK(verify(rk, t, &why) == 0, "expired 30 s ago: within leeway");
	t = make_token(rsa, RS_HDR, claims_fmt(",\"nbf\":9999999999", 300),
		       NULL);
	CHECK(verify(rk, t, &why) < 0, "nbf in the future");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\",\"exp\":9999999999,\"iat\":9999999000}",
		       NULL);
	CHECK(verify(rk, t, &why) < 0, "iat in the future");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\"}", NULL);
	CHECK(verify(rk, t, &why) < 0, "no exp");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\",\"exp\":\"9999999999\"}", NULL);
	CHECK(verify(rk, t, &why) < 0, "exp as a string");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\",\"exp\":9999999999.5}", NULL);
	CHECK(verify(rk, t, &why) == 0, "exp as a real number");

	/* signatures and algorithms */
	t = make_token(rsa, RS_HDR, claims_fmt("", 300), NULL);
	snprintf(tok, sizeof(tok), "%s", t);
	n = strlen(tok);
	tok[n - 5] = tok[n - 5] == 'A' ? 'B' : 'A';
	CHECK(verify(rk, tok, &why) < 0 &&
	      strcmp(why, "bad token signature") == 0, "flipped signature");
	t = make_token(rsa_other, RS_HDR, claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "signed by another key");
	t = make_token(NULL, "{\"alg\":\"none\"}", claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0 && strstr(why, "algorithm") != NULL,
	      "alg none refused");
	t = make_token(NULL, "{\"alg\":\"HS256\"}", claims_fmt("", 300),
		       pub_pem(rsa));
	CHECK(verify(rk, t, &why) < 0, "HS256 keyed with the public key");
	t = make_token(rsa, "{\"alg\":\"rs256\"}", claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "alg is case-sensitive");
	t = make_token(rsa, "{\"typ\":\"JWT\"}", claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "no alg");
	t = make_token(rsa, "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}",
		       claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "crit refused");
	t = make_token(rsa, "{\"alg\":\"RS256\",\"typ\":\"JWE\"}",
		       claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "other typ refused");
	t = make_token(rsa, "{\"alg\":\"RS256\",\"alg\":\"none\"}",
		       claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "duplicate header member refused");

	/* issuer and audience */
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://evil.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\",\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0 && strstr(why, "issuer") != NULL,
	      "wrong issuer");
	t = make_token(rsa, RS_HDR,
		       "{\"aud\":\"pop.test\",\"email\":\"a\","
		       "\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0, "no issuer");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"imap.test\","
		       "\"email\":\"a\",\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0 && strstr(why, "audience") != NULL,
	      "wrong audience");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":[\"x\","
		       "\"pop.test\"],\"email\":\"a\",\"exp\":9999999999}",
		       NULL);
	CHECK(verify(rk, t, &why) == 0, "audience in an array");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":[\"x\",1],"
		       "\"email\":\"a\",\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0, "audience array without ours");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\\u0000b\",\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0, "NUL in the user claim");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":7,\"exp\":9999999999}", NULL);
	CHECK(verify(rk, t, &why) < 0, "user claim not a string");
	t = make_token(rsa, RS_HDR,
		       "{\"iss\":\"https://idp.test\",\"aud\":\"pop.test\","
		       "\"email\":\"a\",\"email\":\"b\",\"exp\":9999999999}",
		       NULL);
	CHECK(verify(rk, t, &why) < 0, "duplicate claim refused");

	/* malformed */
	CHECK(verify(rk, "", &why) < 0, "empty token");
	CHECK(verify(rk, "abc", &why) < 0, "no dots");
	CHECK(verify(rk, "a.b.c.d", &why) < 0, "four parts");
	t = make_token(rsa, RS_HDR, claims_fmt("", 300), NULL);
	snprintf(tok, sizeof(tok), "%s", t);
	tok[3] = '*';
	CHECK(verify(rk, tok, &why) < 0, "bad base64url character");
	snprintf(tok, sizeof(tok), "%s=", t);
	CHECK(verify(rk, tok, &why) < 0, "padding refused");
	snprintf(tok, sizeof(tok), "%sA", t);
	CHECK(verify(rk, tok, &why) < 0, "impossible base64 length");
	t = make_token(rsa, "not json", claims_fmt("", 300), NULL);
	CHECK(verify(rk, t, &why) < 0, "header not JSON");
	t = make_token(rsa, RS_HDR, "[1,2]", NULL);
	CHECK(verify(rk, t, &why) < 0 && strstr(why, "claims") != NULL,
	      "claims not an object");
	t = make_token(rsa, RS_HDR, "{\"exp\":1", NULL);
	CHECK(verify(rk, t, &why) < 0, "truncated JSON");
	jwt_key_destroy(&rk);
	jwt_key_destroy(&ek);
}

/* ---- OAUTHBEARER / XOAUTH2 messages ---- */

__attribute__((format(printf, 3, 5)))
static enum sasl_oauth_status msg(const struct sasl_oauth *so, bool x2,
				  const char *fmt, char *user, ...)
{
	char buf[9000];
	const char *why;
	va_list ap;
	int n;

	va_start(ap, user);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	return sasl_oauth_check(so, x2, (unsigned char *)buf, (size_t)n, now,
				user, 256, &why);
}

static void test_messages(void)
{
	struct sasl_oauth *so = NULL;
	struct config cfg;
	const char *why = NULL;
	char user[256], *t;

	config_defaults(&cfg);
	snprintf(cfg.auth.oauth_public_key, sizeof(cfg.auth.oauth_public_key), "%s",
		 path_rsa);
	snprintf(cfg.auth.oauth_issuer, sizeof(cfg.auth.oauth_issuer),
		 "https://idp.test");
	snprintf(cfg.auth.oauth_audience, sizeof(cfg.auth.oauth_audience), "pop.test");
	CHECK(sasl_oauth_create(&cfg.auth, &so, &why) == 0, "oauth backend");
	if (so == NULL)
		return;
	CHECK(strcmp(sasl_oauth_error(false),
		     "{\"status\":\"invalid_token\"}") == 0,
	      "RFC 7628 error challenge");
	t = make_token(rsa, RS_HDR, claims_fmt("", 300), NULL);
	CHECK(msg(so, false, "n,a=alice@example.org,\001host=x\001port=110"
		  "\001auth=Bearer %s\001\001", user, t) == SASL_OAUTH_OK &&
	      strcmp(user, "alice@example.org") == 0, "OAUTHBEARER with a=");
	CHECK(msg(so, false, "n,,\001auth=bearer  %s\001\001", user, t) ==
	      SASL_OAUTH_OK && strcmp(user, "alice@example.org") == 0,
	      "OAUTHBEARER without a=, lower-case scheme");
	CHECK(msg(so, false, "n,a=bob@example.org,\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_INVALID &&
	      strcmp(user, "bob@example.org") == 0,
	      "token of another user: invalid, claimed user for logs");
	CHECK(msg(so, false, "n,a=al=2Cice,\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_INVALID &&
	      strcmp(user, "al,ice") == 0,
	      "saslname =2C decoded");
	CHECK(msg(so, false, "n,a=al=ice,\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_MALFORMED, "bad saslname escape");
	CHECK(msg(so, false, "p=tls-unique,,\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_MALFORMED, "channel binding refused");
	CHECK(msg(so, false, "n,,\001auth=Bearer %s\001", user, t) ==
	      SASL_OAUTH_MALFORMED, "no final ^A");
	CHECK(msg(so, false, "n,,\001auth=Bearer %s\001\001x", user, t) ==
	      SASL_OAUTH_MALFORMED, "data after the end");
	CHECK(msg(so, false, "n,,\001auth=Basic %s\001\001", user, t) ==
	      SASL_OAUTH_MALFORMED, "not a bearer token");
	CHECK(msg(so, false, "n,,\001auth=Bearer %s\001auth=Bearer x\001\001",
		  user, t) == SASL_OAUTH_MALFORMED, "two auth= pairs");
	CHECK(msg(so, false, "\001%s", user, "") == SASL_OAUTH_MALFORMED,
	      "the dummy response is no message");
	CHECK(sasl_oauth_check(so, false, (const unsigned char *)"n,,\001a\0",
			       8, now, user, sizeof(user), &why) ==
	      SASL_OAUTH_MALFORMED, "NUL refused");
	CHECK(msg(so, true, "user=alice@example.org\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_OK &&
	      strcmp(user, "alice@example.org") == 0, "XOAUTH2");
	CHECK(msg(so, true, "auth=Bearer %s\001\001", user, t) ==
	      SASL_OAUTH_MALFORMED, "XOAUTH2 without user=");
	CHECK(msg(so, true, "user=bob\001auth=Bearer %s\001\001", user, t) ==
	      SASL_OAUTH_INVALID, "XOAUTH2 token of another user");
	t = make_token(rsa, RS_HDR, claims_fmt("", -300), NULL);
	CHECK(msg(so, true, "user=alice@example.org\001auth=Bearer %s\001\001",
		  user, t) == SASL_OAUTH_INVALID, "XOAUTH2 expired token");
	sasl_oauth_destroy(&so);
}

int main(void)
{
	char cmd[300];

	now = time(NULL);
	if (mkdtemp(tmpdir) == NULL)
		return 2;
	snprintf(path_rsa, sizeof(path_rsa), "%s/rsa.pem", tmpdir);
	snprintf(path_ec, sizeof(path_ec), "%s/ec.pem", tmpdir);
	snprintf(path_rsa_small, sizeof(path_rsa_small), "%s/rsa1024.pem",
		 tmpdir);
	snprintf(path_p384, sizeof(path_p384), "%s/p384.pem", tmpdir);
	snprintf(path_garbage, sizeof(path_garbage), "%s/garbage.pem", tmpdir);
	rsa = keygen("RSA", NULL, 2048);
	rsa_other = keygen("RSA", NULL, 2048);
	ec = keygen("EC", "prime256v1", 0);
	write_pub(rsa, path_rsa);
	write_pub(ec, path_ec);

	test_keys();
	test_tokens();
	test_messages();

	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa_other);
	EVP_PKEY_free(ec);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 2;
	return unit_done();
}
