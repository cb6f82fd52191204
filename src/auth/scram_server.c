/* scram_server.c: the SCRAM server side, with and without channel
 * binding (see scram_server.h). Written from RFC 5802 section 7's
 * grammar; hashes, HMAC and base64 from OpenSSL. */
#include "auth/scram_server.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* ---- small helpers ---- */

/* base64 of len octets into out (at least 4 * ceil(len / 3) + 1). */
static size_t scram_b64(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

#define SCRAM_B64_LEN(n) (((n) + 2) / 3 * 4)

static size_t scram_b64_len(size_t len)
{
	return SCRAM_B64_LEN(len);
}

/* Octets up to the next ',' or end. */
static size_t scram_field_len(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *c = memchr(p, ',', (size_t)(end - p));

	return c != NULL ? (size_t)(c - p) : (size_t)(end - p);
}

static bool scram_starts(const unsigned char *p, const unsigned char *end,
			 const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

/* RFC 5802 saslname (len octets at p, no ',') decoded into out: "=2C" is
 * ',' and "=3D" '='; any other '=' fails, and so does an empty name. */
static int scram_saslname(const unsigned char *p, size_t len, char *out,
			  size_t size)
{
	size_t i, o = 0;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		char c = (char)p[i];

		if (c == '=') {
			if (i + 2 >= len)
				return -1;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				c = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* attr-val = ALPHA "=" value: extensions we ignore must look like one. */
static bool scram_attr_val(const unsigned char *p, size_t len)
{
	return len >= 2 &&
	       ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) &&
	       p[1] == '=';
}

static bool scram_cb_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* ---- client-first-message ---- */

static int scram_parse_first(const unsigned char *in, size_t len,
			     struct scram_client_first *cf,
			     const char **why_r)
{
	const unsigned char *p = in, *end = in + len;
	size_t n, i;

	memset(cf, 0, sizeof(*cf));
	*why_r = "malformed client-first message";
	if (len == 0 || len > SCRAM_SERVER_MSG_MAX || memchr(in, '\0', len))
		return -1;
	/* gs2-cbind-flag = ("p=" cb-name) / "n" / "y" */
	n = scram_field_len(p, end);
	if (n == 1 && (p[0] == 'n' || p[0] == 'y')) {
		cf->cbind_flag = (char)p[0];
	} else if (n > 2 && p[0] == 'p' && p[1] == '=') {
		if (n - 2 >= sizeof(cf->cb_name))
			return -1;
		for (i = 2; i < n; i++) {
			if (!scram_cb_name_char(p[i]))
				return -1;
		}
		cf->cbind_flag = 'p';
		memcpy(cf->cb_name, p + 2, n - 2);
	} else {
		return -1;
	}
	p += n;
	if (p == end || *p++ != ',')
		return -1;
	/* [ authzid ] "," */
	n = scram_field_len(p, end);
	if (n > 0 && (!scram_starts(p, end, "a=") ||
		      scram_saslname(p + 2, n - 2, cf->authzid,
				     sizeof(cf->authzid)) < 0))
		return -1;
	p += n;
	if (p == end || *p++ != ',')
		return -1;
	cf->gs2_len = (size_t)(p - in);
	/* client-first-message-bare */
	if (scram_starts(p, end, "m=")) {
		*why_r = "client-first message with a mandatory extension";
		return -1;
	}
	n = scram_field_len(p, end);
	if (!scram_starts(p, end, "n=") ||
	    scram_saslname(p + 2, n - 2, cf->user, sizeof(cf->user)) < 0)
		return -1;
	p += n;
	if (p == end || *p++ != ',')
		return -1;
	n = scram_field_len(p, end);
	if (!scram_starts(p, end, "r=") || n <= 2)
		return -1;
	for (i = 2; i < n; i++) {
		/* printable = %x21-2B / %x2D-7E */
		if (p[i] < 0x21 || p[i] > 0x7e)
			return -1;
	}
	cf->nonce_off = (size_t)(p + 2 - in);
	cf->nonce_len = n - 2;
	p += n;
	/* extensions: ignored, but well-formed */
	while (p != end) {
		p++; /* the ',' */
		n = scram_field_len(p, end);
		if (!scram_attr_val(p, n))
			return -1;
		p += n;
	}
	return 0;
}

int scram_parse_client_first(const unsigned char *in, size_t len,
			     struct scram_client_first *cf_r,
			     const char **why_r)
{
	if (scram_parse_first(in, len, cf_r, why_r) == 0)
		return 0;
	memset(cf_r, 0, sizeof(*cf_r)); /* no half-parsed names in logs */
	return -1;
}

/* ---- the exchange ---- */

void scram_server_init(struct scram_server *s, enum scram_hash hash,
		       bool plus, const struct scram_binding *cb,
		       size_t n_cb)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->hash = hash;
	s->step = SCRAM_SERVER_WANT_FIRST;
	s->plus = plus;
	for (i = 0; i < n_cb && s->n_cb < SCRAM_SERVER_BINDINGS_MAX; i++) {
		if (cb[i].name[0] == '\0' || cb[i].len == 0 ||
		    cb[i].len > sizeof(cb[i].data))
			continue;
		s->cb[s->n_cb++] = cb[i];
	}
}

void scram_server_clear(struct scram_server *s)
{
	explicit_bzero(s, sizeof(*s));
}

/* The binding the client's gs2 header asks for, checked against what
 * this exchange allows (RFC 5802 6. and 7.): NULL with *why_r set when
 * refused; for "n" (and an allowed "y") *none_r is set instead. */
static const struct scram_binding *
scram_server_binding(const struct scram_server *s, bool *none_r,
		     const char **why_r)
{
	size_t i;

	*none_r = false;
	switch (s->cf.cbind_flag) {
	case 'p':
		if (!s->plus) {
			*why_r = "channel binding asked for with a non-PLUS "
				 "mechanism";
			return NULL;
		}
		for (i = 0; i < s->n_cb; i++) {
			if (strcmp(s->cf.cb_name, s->cb[i].name) == 0)
				return &s->cb[i];
		}
		*why_r = s->n_cb == 0 ? "no channel binding data" :
			 "client does not bind to a channel binding type "
			 "we have";
		return NULL;
	case 'y':
		if (s->n_cb > 0) {
			*why_r = "SCRAM client says y: channel binding "
				 "downgrade";
			return NULL;
		}
		break;
	default:
		break;
	}
	if (s->plus) {
		*why_r = "-PLUS client does not bind";
		return NULL;
	}
	*none_r = true;
	return NULL;
}

int scram_server_client_first(struct scram_server *s,
			      const unsigned char *in, size_t len,
			      const char **why_r)
{
	unsigned char cbind[SCRAM_SERVER_MSG_MAX + SCRAM_SERVER_CB_MAX];
	const struct scram_binding *cb;
	size_t bare_len, cb_len = 0;
	bool none;

	if (s->step != SCRAM_SERVER_WANT_FIRST) {
		*why_r = "unexpected client-first message";
		return -1;
	}
	s->step = SCRAM_SERVER_DONE;
	if (scram_parse_client_first(in, len, &s->cf, why_r) < 0)
		return -1;
	cb = scram_server_binding(s, &none, why_r);
	if (cb == NULL && !none)
		return -1;
	/* c= of the client-final message: gs2 header + binding data */
	memcpy(cbind, in, s->cf.gs2_len);
	if (cb != NULL) {
		memcpy(cbind + s->cf.gs2_len, cb->data, cb->len);
		cb_len = cb->len;
	}
	scram_b64(cbind, s->cf.gs2_len + cb_len, s->cbind_b64);
	/* AuthMessage starts with client-first-message-bare */
	bare_len = len - s->cf.gs2_len;
	memcpy(s->auth_msg, in + s->cf.gs2_len, bare_len);
	s->auth_len = bare_len;
	s->step = SCRAM_SERVER_WANT_SECRET;
	return 0;
}

int scram_server_first(struct scram_server *s, unsigned iter,
		       const unsigned char *salt, size_t salt_len,
		       const unsigned char *stored_key,
		       const unsigned char *server_key, unsigned char *out,
		       size_t size, size_t *len_r)
{
	unsigned char rnd[SCRAM_SERVER_NONCE_RAND];
	char salt64[SCRAM_B64_LEN(SCRAM_SALT_MAX) + 1];
	size_t klen = scram_key_len(s->hash), pos;
	int n;

	if (s->step != SCRAM_SERVER_WANT_SECRET || salt_len == 0 ||
	    salt_len > SCRAM_SALT_MAX || RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out_fail;
	s->step = SCRAM_SERVER_DONE;
	/* r = the client's nonce followed by ours */
	memcpy(s->nonce, s->auth_msg + (s->cf.nonce_off - s->cf.gs2_len),
	       s->cf.nonce_len);
	pos = s->cf.nonce_len;
	pos += scram_b64(rnd, sizeof(rnd), s->nonce + pos);
	s->nonce[pos] = '\0';
	scram_b64(salt, salt_len, salt64);
	n = snprintf((char *)out, size, "r=%s,s=%s,i=%u", s->nonce, salt64,
		     iter);
	if (n < 0 || (size_t)n >= size ||
	    s->auth_len + 1 + (size_t)n >= sizeof(s->auth_msg))
		goto out_fail;
	s->auth_msg[s->auth_len++] = ',';
	memcpy(s->auth_msg + s->auth_len, out, (size_t)n);
	s->auth_len += (size_t)n;
	memcpy(s->stored_key, stored_key, klen);
	memcpy(s->server_key, server_key, klen);
	*len_r = (size_t)n;
	s->step = SCRAM_SERVER_WANT_FINAL;
	return 0;
out_fail:
	s->step = SCRAM_SERVER_DONE;
	return -1;
}

/* p= base64, strictly: exactly the encoding of klen octets. */
static int scram_proof(const unsigned char *b64, size_t len, size_t klen,
		       unsigned char *proof)
{
	unsigned char buf[SCRAM_KEY_MAX + 3];
	char again[SCRAM_B64_LEN(SCRAM_KEY_MAX) + 1];
	char in[SCRAM_B64_LEN(SCRAM_KEY_MAX) + 1];
	int ret = -1;

	if (len != scram_b64_len(klen))
		return -1;
	memcpy(in, b64, len);
	in[len] = '\0';
	if (EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) < 0)
		goto out_wipe;
	scram_b64(buf, klen, again);
	if (memcmp(again, in, len) != 0)
		goto out_wipe;
	memcpy(proof, buf, klen);
	ret = 0;
out_wipe:
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must
 * be StoredKey. Then v= HMAC(ServerKey, AuthMessage). */
static int scram_verify(struct scram_server *s, const unsigned char *proof,
			unsigned char *out, size_t size, size_t *len_r,
			const char **why_r)
{
	const EVP_MD *md = scram_md(s->hash);
	size_t klen = scram_key_len(s->hash), i;
	unsigned char sig[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE],
		      stored[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ret = -1;

	*why_r = "crypto error";
	if (HMAC(md, s->stored_key, (int)klen,
		 (const unsigned char *)s->auth_msg, s->auth_len, sig,
		 &n) == NULL || n != klen)
		goto out_wipe;
	for (i = 0; i < klen; i++)
		key[i] = proof[i] ^ sig[i];
	if (EVP_Digest(key, klen, stored, &n, md, NULL) != 1 || n != klen)
		goto out_wipe;
	if (CRYPTO_memcmp(stored, s->stored_key, klen) != 0) {
		*why_r = "wrong proof";
		goto out_wipe;
	}
	if (HMAC(md, s->server_key, (int)klen,
		 (const unsigned char *)s->auth_msg, s->auth_len, sig,
		 &n) == NULL || n != klen || size < 2 + scram_b64_len(klen) + 1)
		goto out_wipe;
	memcpy(out, "v=", 2);
	*len_r = 2 + scram_b64(sig, klen, (char *)out + 2);
	ret = 0;
out_wipe:
	explicit_bzero(sig, sizeof(sig));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(stored, sizeof(stored));
	return ret;
}

int scram_server_client_final(struct scram_server *s,
			      const unsigned char *in, size_t len,
			      unsigned char *out, size_t size, size_t *len_r,
			      const char **why_r)
{
	const unsigned char *p = in, *end = in + len, *proof64 = NULL;
	unsigned char proof[SCRAM_KEY_MAX];
	size_t n, klen = scram_key_len(s->hash), without_len = 0,
	       proof_len = 0;
	int ret = -1;

	*why_r = "malformed client-final message";
	if (s->step != SCRAM_SERVER_WANT_FINAL) {
		*why_r = "unexpected client-final message";
		return -1;
	}
	s->step = SCRAM_SERVER_DONE;
	if (len == 0 || len > SCRAM_SERVER_MSG_MAX || memchr(in, '\0', len))
		return -1;
	/* channel-binding "," nonce ["," extensions] "," proof */
	n = scram_field_len(p, end);
	if (!scram_starts(p, end, "c="))
		return -1;
	if (n - 2 != strlen(s->cbind_b64) ||
	    CRYPTO_memcmp(p + 2, s->cbind_b64, n - 2) != 0) {
		*why_r = "channel binding mismatch";
		return -1;
	}
	p += n;
	if (p == end || *p++ != ',')
		return -1;
	n = scram_field_len(p, end);
	if (!scram_starts(p, end, "r="))
		return -1;
	if (n - 2 != strlen(s->nonce) || memcmp(p + 2, s->nonce, n - 2) != 0) {
		*why_r = "nonce mismatch";
		return -1;
	}
	p += n;
	while (p != end && proof64 == NULL) {
		p++; /* the ',' */
		n = scram_field_len(p, end);
		if (scram_starts(p, end, "p=")) {
			without_len = (size_t)(p - 1 - in);
			proof64 = p + 2;
			proof_len = n - 2;
		} else if (!scram_attr_val(p, n)) {
			return -1;
		}
		p += n;
	}
	/* the proof comes last, once */
	if (proof64 == NULL || p != end ||
	    scram_proof(proof64, proof_len, klen, proof) < 0)
		return -1;
	if (s->auth_len + 1 + without_len > sizeof(s->auth_msg))
		goto out_wipe;
	s->auth_msg[s->auth_len++] = ',';
	memcpy(s->auth_msg + s->auth_len, in, without_len);
	s->auth_len += without_len;
	ret = scram_verify(s, proof, out, size, len_r, why_r);
out_wipe:
	explicit_bzero(proof, sizeof(proof));
	return ret;
}
