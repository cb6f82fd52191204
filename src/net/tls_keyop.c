/* tls_keyop.c: the key process's private key and its operations (see
 * tls_keyop.h). OpenSSL 3's EVP interface only: no deprecated calls. */
#include "net/tls_keyop.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct tls_keyop {
	EVP_PKEY *pkey;
	bool rsa;
	int bits;             /* of the RSA modulus */
	uint8_t id[KEYPROTO_ID_LEN];
};

/* No passphrase prompt: a key process has no terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

int tls_keyop_pkey_id(void *pkey, uint8_t id_r[KEYPROTO_ID_LEN])
{
	unsigned char *der = NULL;
	unsigned int len = 0;
	int n = i2d_PUBKEY(pkey, &der);
	int ok;

	if (n <= 0)
		return -1;
	ok = EVP_Digest(der, (size_t)n, id_r, &len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 && len == KEYPROTO_ID_LEN ? 0 : -1;
}

int tls_keyop_load(int fd, const char *what, struct tls_keyop **key_r,
		   char *err, size_t errsize)
{
	struct tls_keyop *key;
	unsigned long code;
	char reason[256] = "not a PEM private key";
	BIO *bio;

	*key_r = NULL;
	if (lseek(fd, 0, SEEK_SET) < 0 ||
	    (bio = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL) {
		snprintf(err, errsize, "tls_key %s: cannot read it", what);
		return -1;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		BIO_free(bio);
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	key->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key->pkey == NULL) {
		code = ERR_get_error();
		if (code != 0)
			ERR_error_string_n(code, reason, sizeof(reason));
		ERR_clear_error();
		snprintf(err, errsize, "tls_key %s: %s", what, reason);
		goto out_free;
	}
	key->rsa = EVP_PKEY_is_a(key->pkey, "RSA");
	key->bits = EVP_PKEY_get_bits(key->pkey);
	if (!key->rsa && !EVP_PKEY_is_a(key->pkey, "EC")) {
		snprintf(err, errsize, "tls_key %s: neither RSA nor EC", what);
		goto out_free;
	}
	if (tls_keyop_pkey_id(key->pkey, key->id) < 0) {
		snprintf(err, errsize, "tls_key %s: cannot encode its public "
			 "key", what);
		goto out_free;
	}
	*key_r = key;
	return 0;

out_free:
	tls_keyop_destroy(&key);
	return -1;
}

void tls_keyop_destroy(struct tls_keyop **keyp)
{
	struct tls_keyop *key = *keyp;

	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey); /* OpenSSL clears the private parts */
	free(key);
	*keyp = NULL;
}

const uint8_t *tls_keyop_id(const struct tls_keyop *key)
{
	return key->id;
}

/* The digests TLS 1.2 and 1.3 sign with; NULL for anything else. */
static const EVP_MD *tls_digest(uint32_t nid)
{
	switch (nid) {
	case NID_sha1:
		return EVP_sha1();
	case NID_sha224:
		return EVP_sha224();
	case NID_sha256:
		return EVP_sha256();
	case NID_sha384:
		return EVP_sha384();
	case NID_sha512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* MGF1 (RFC 8017 B.2.1) of seed with md, XORed into out[0..len). */
static bool mgf1_xor(const EVP_MD *md, const uint8_t *seed, size_t seedlen,
		     uint8_t *out, size_t len)
{
	uint8_t block[EVP_MAX_MD_SIZE], counter[4];
	size_t hlen = (size_t)EVP_MD_get_size(md), done = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL;

	for (uint32_t i = 0; ok && done < len; i++) {
		counter[0] = (uint8_t)(i >> 24);
		counter[1] = (uint8_t)(i >> 16);
		counter[2] = (uint8_t)(i >> 8);
		counter[3] = (uint8_t)i;
		ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		     EVP_DigestUpdate(ctx, seed, seedlen) == 1 &&
		     EVP_DigestUpdate(ctx, counter, 4) == 1 &&
		     EVP_DigestFinal_ex(ctx, block, NULL) == 1;
		for (size_t j = 0; ok && j < hlen && done < len; j++)
			out[done++] ^= block[j];
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Whether block (the modulus's size) is an EMSA-PSS encoding (RFC 8017
 * 9.1.1) with md for hash and MGF1 and a salt as long as the hash, what
 * TLS uses (RFC 8446 4.2.3). Without this check the raw private
 * operation would decrypt anything a compromised worker sent. */
static bool pss_shaped_md(const struct tls_keyop *key, const uint8_t *block,
			  size_t len, const EVP_MD *md)
{
	size_t embits = (size_t)key->bits - 1, emlen = (embits + 7) / 8;
	size_t hlen = (size_t)EVP_MD_get_size(md), dblen, pslen;
	const uint8_t *em = block + (len - emlen);
	uint8_t db[KEYPROTO_DATA_MAX];
	uint8_t top = (uint8_t)(0xff >> (8 * emlen - embits));
	bool ok = true;

	if (len - emlen > 1 || (len > emlen && block[0] != 0) ||
	    emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc ||
	    (em[0] & ~top) != 0)
		return false;
	dblen = emlen - hlen - 1;
	memcpy(db, em, dblen);
	if (!mgf1_xor(md, em + dblen, hlen, db, dblen))
		return false;
	db[0] &= top;
	pslen = dblen - hlen - 1;
	for (size_t i = 0; i < pslen; i++)
		ok &= db[i] == 0;
	ok &= db[pslen] == 0x01;
	OPENSSL_cleanse(db, sizeof(db));
	return ok;
}

static bool pss_shaped(const struct tls_keyop *key, const uint8_t *block,
		       size_t len)
{
	return pss_shaped_md(key, block, len, EVP_sha256()) ||
	       pss_shaped_md(key, block, len, EVP_sha384()) ||
	       pss_shaped_md(key, block, len, EVP_sha512());
}

/* The operation of req into resp->data. KEYPROTO_OK or the refusal. */
static enum keyproto_status keyop_sign(struct tls_keyop *key,
				       const struct keyproto_req *req,
				       struct keyproto_resp *resp)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
	size_t siglen = sizeof(resp->data);
	const EVP_MD *md = NULL;
	int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1;

	switch (req->op) {
	case KEYPROTO_RSA_PKCS1:
		md = tls_digest(req->md_nid);
		if (!key->rsa || md == NULL ||
		    req->len != (uint32_t)EVP_MD_get_size(md))
			goto out_refused;
		ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx,
				RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
		break;
	case KEYPROTO_RSA_PSS_BLOCK:
		if (!key->rsa ||
		    req->len != (uint32_t)EVP_PKEY_get_size(key->pkey) ||
		    !pss_shaped(key, req->data, req->len))
			goto out_refused;
		ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx,
				RSA_NO_PADDING) == 1;
		break;
	case KEYPROTO_ECDSA:
		if (key->rsa || req->len == 0 || req->len > EVP_MAX_MD_SIZE)
			goto out_refused;
		break;
	default:
		goto out_refused;
	}
	ok = ok && EVP_PKEY_sign(ctx, resp->data, &siglen, req->data,
				 req->len) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return KEYPROTO_FAILED;
	}
	resp->len = (uint32_t)siglen;
	return KEYPROTO_OK;

out_refused:
	EVP_PKEY_CTX_free(ctx);
	return KEYPROTO_REFUSED;
}

void tls_keyop_perform(struct tls_keyop *key, const struct keyproto_req *req,
		       struct keyproto_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->seq = req->seq;
	if (CRYPTO_memcmp(req->key_id, key->id, KEYPROTO_ID_LEN) != 0) {
		resp->status = KEYPROTO_UNKNOWN_KEY;
		return;
	}
	if (req->len > KEYPROTO_DATA_MAX) {
		resp->status = KEYPROTO_REFUSED;
		return;
	}
	resp->status = keyop_sign(key, req, resp);
}
