/* test-tls_keyop.c: net/tls_keyop.c, the key process's operations: keys
 * loaded from a descriptor (and a file that is no key), ECDSA and RSA
 * PKCS #1 signatures that verify, an RSA-PSS block signed exactly as
 * OpenSSL signs it, and every refusal: an unknown key id, an unknown
 * op, a digest of the wrong length or kind, an RSA op on an EC key, and
 * a raw RSA block that is not PSS-shaped (a ciphertext: the operation
 * must not decrypt). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "net/tls_keyop.h"
#include "unit.h"

static char tmpdir[] = "/tmp/test-tls_keyop.XXXXXX";

/* pkey written as PEM to a file; the open descriptor, or -1. */
static int key_fd(EVP_PKEY *pkey, const char *name)
{
	char path[200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL || PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL,
					      NULL) != 1)
		abort();
	fclose(f);
	return open(path, O_RDONLY);
}

static struct tls_keyop *load(EVP_PKEY *pkey, const char *name)
{
	struct tls_keyop *key = NULL;
	char err[512];
	int fd = key_fd(pkey, name);

	if (fd < 0 || tls_keyop_load(fd, name, &key, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		abort();
	}
	close(fd);
	return key;
}

static void request(struct keyproto_req *req, const struct tls_keyop *key,
		    uint32_t op, uint32_t md_nid, const void *data,
		    size_t len)
{
	memset(req, 0, sizeof(*req));
	req->seq = 7;
	req->op = op;
	req->md_nid = md_nid;
	req->len = (uint32_t)len;
	memcpy(req->key_id, tls_keyop_id(key), KEYPROTO_ID_LEN);
	memcpy(req->data, data, len);
}

static int verify(EVP_PKEY *pkey, int padding, const EVP_MD *md,
		  const uint8_t *sig, size_t siglen, const uint8_t *dgst,
		  size_t dlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
		 (padding == 0 ||
		  (EVP_PKEY_CTX_set_rsa_padding(ctx, padding) == 1 &&
		   EVP_PKEY_CTX_set_signature_md(ctx, md) == 1)) &&
		 EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static void test_ec(uint8_t dgst[32])
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct tls_keyop *key = load(pkey, "ec.pem");
	struct keyproto_req req;
	struct keyproto_resp resp;
	uint8_t id[KEYPROTO_ID_LEN];

	CHECK(tls_keyop_pkey_id(pkey, id) == 0 &&
	      memcmp(id, tls_keyop_id(key), sizeof(id)) == 0,
	      "ec: the id of the loaded key is the public key's");
	request(&req, key, KEYPROTO_ECDSA, 0, dgst, 32);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_OK && resp.seq == 7,
	      "ec: ECDSA of a digest answered, seq echoed");
	CHECK(verify(pkey, 0, NULL, resp.data, resp.len, dgst, 32),
	      "ec: the signature verifies");
	req.key_id[0] ^= 1;
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_UNKNOWN_KEY, "ec: unknown key id refused");
	request(&req, key, KEYPROTO_RSA_PKCS1, NID_sha256, dgst, 32);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED, "ec: an RSA op refused");
	request(&req, key, 99, 0, dgst, 32);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED, "ec: an unknown op refused");
	request(&req, key, KEYPROTO_ECDSA, 0, dgst, 32);
	req.len = KEYPROTO_DATA_MAX + 1;
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED, "ec: an over-long length refused");
	tls_keyop_destroy(&key);
	CHECK(key == NULL, "destroy sets the pointer to NULL");
	EVP_PKEY_free(pkey);
}

/* The EMSA-PSS block of a PSS signature: the public operation on it. */
static size_t pss_block(EVP_PKEY *pkey, const uint8_t dgst[32], uint8_t *sig,
			size_t *siglen, uint8_t *block)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	size_t blen = 1024;

	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(ctx, sig, siglen, dgst, 32) != 1 ||
	    EVP_PKEY_verify_recover_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1 ||
	    EVP_PKEY_verify_recover(ctx, block, &blen, sig, *siglen) != 1)
		abort();
	EVP_PKEY_CTX_free(ctx);
	return blen;
}

static void test_rsa(uint8_t dgst[32])
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct tls_keyop *key = load(pkey, "rsa.pem");
	struct keyproto_req req;
	struct keyproto_resp resp;
	uint8_t sig[512], block[1024], ct[512];
	size_t siglen = sizeof(sig), blen = 0, ctlen = sizeof(ct);
	EVP_PKEY_CTX *ctx;
	bool ok = true;

	request(&req, key, KEYPROTO_RSA_PKCS1, NID_sha256, dgst, 32);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_OK &&
	      verify(pkey, RSA_PKCS1_PADDING, EVP_sha256(), resp.data,
		     resp.len, dgst, 32),
	      "rsa: PKCS #1 signature of a SHA-256 digest verifies");
	request(&req, key, KEYPROTO_RSA_PKCS1, NID_sha256, dgst, 20);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED,
	      "rsa: a digest of the wrong length refused");
	request(&req, key, KEYPROTO_RSA_PKCS1, NID_md5, dgst, 16);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED, "rsa: MD5 refused");
	request(&req, key, KEYPROTO_ECDSA, 0, dgst, 32);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED, "rsa: ECDSA refused");

	/* random salts: every one of many blocks must pass the check */
	for (int i = 0; i < 300 && ok; i++) {
		siglen = sizeof(sig);
		blen = pss_block(pkey, dgst, sig, &siglen, block);
		request(&req, key, KEYPROTO_RSA_PSS_BLOCK, 0, block, blen);
		tls_keyop_perform(key, &req, &resp);
		ok = resp.status == KEYPROTO_OK && resp.len == siglen &&
		     memcmp(resp.data, sig, siglen) == 0;
	}
	CHECK(ok, "rsa: 300 PSS blocks give OpenSSL's own PSS signatures");
	block[blen / 2] ^= 1;
	request(&req, key, KEYPROTO_RSA_PSS_BLOCK, 0, block, blen);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED,
	      "rsa: a damaged PSS block refused");

	/* a ciphertext for the key: the raw operation would decrypt it */
	ctx = EVP_PKEY_CTX_new(pkey, NULL);
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_encrypt(ctx, ct, &ctlen, dgst, 32) != 1)
		abort();
	EVP_PKEY_CTX_free(ctx);
	request(&req, key, KEYPROTO_RSA_PSS_BLOCK, 0, ct, ctlen);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED,
	      "rsa: a ciphertext is refused (no decryption oracle)");
	request(&req, key, KEYPROTO_RSA_PSS_BLOCK, 0, block, blen - 1);
	tls_keyop_perform(key, &req, &resp);
	CHECK(resp.status == KEYPROTO_REFUSED,
	      "rsa: a block shorter than the modulus refused");
	tls_keyop_destroy(&key);
	EVP_PKEY_free(pkey);
}

static void test_not_a_key(void)
{
	struct tls_keyop *key = NULL;
	char path[200], err[512] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/junk.pem", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "hello\n", 6) != 6)
		abort();
	CHECK(tls_keyop_load(fd, path, &key, err, sizeof(err)) < 0 &&
	      key == NULL, "a file that is no key: an error");
	CHECK(strstr(err, path) != NULL, "the error names the file");
	close(fd);
	unlink(path);
}

int main(void)
{
	uint8_t dgst[32];
	char cmd[100];

	if (mkdtemp(tmpdir) == NULL || RAND_bytes(dgst, sizeof(dgst)) != 1)
		abort();
	test_ec(dgst);
	test_rsa(dgst);
	test_not_a_key();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return unit_done();
}
