/* tls.c: building the OpenSSL server and client contexts (see tls.h). */
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool client;
	struct tls_remote *remote;  /* a key in the key process, or NULL */
};

static void openssl_error(char *err, size_t errsize, const char *what,
			  const char *path)
{
	unsigned long code = ERR_get_error();
	char reason[256] = "unknown error";

	if (code != 0)
		ERR_error_string_n(code, reason, sizeof(reason));
	snprintf(err, errsize, "%s %s: %s", what, path, reason);
	ERR_clear_error();
}

static int min_version(const char *name, int *version_r)
{
	if (strcmp(name, "TLSv1.2") == 0)
		*version_r = TLS1_2_VERSION;
	else if (strcmp(name, "TLSv1.3") == 0)
		*version_r = TLS1_3_VERSION;
	else
		return -1;
	return 0;
}

/* The certificate chain (PEM) and its private key into ssl_ctx; what
 * names them in an error: cert_what, key_what. 0, or -1 with err. */
static int load_cert_and_key(SSL_CTX *ssl_ctx, const char *cert,
			     const char *key, const char *cert_what,
			     const char *key_what, char *err, size_t errsize)
{
	char what[64];

	if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1) {
		openssl_error(err, errsize, cert_what, cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl_ctx, key, SSL_FILETYPE_PEM) != 1) {
		openssl_error(err, errsize, key_what, key);
		return -1;
	}
	if (SSL_CTX_check_private_key(ssl_ctx) != 1) {
		snprintf(what, sizeof(what), "%s does not match %s", key_what,
			 cert_what);
		openssl_error(err, errsize, what, key);
		return -1;
	}
	return 0;
}

/* The certificate chain and a key whose private operations the key
 * process does (tls_remote.h). 0, or -1 with err. */
static int load_cert_remote(SSL_CTX *ssl_ctx, const char *cert,
			    const struct tls_remote_settings *rset,
			    struct tls_remote **remote_r,
			    uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			    size_t errsize)
{
	void *pkey;
	int ok;

	if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1) {
		openssl_error(err, errsize, "tls_cert", cert);
		return -1;
	}
	if (tls_remote_key_create(rset, SSL_CTX_get0_certificate(ssl_ctx),
				  &pkey, remote_r, id_r, err, errsize) < 0)
		return -1;
	ok = SSL_CTX_use_PrivateKey(ssl_ctx, pkey);
	EVP_PKEY_free(pkey); /* the context holds its own reference */
	if (ok != 1) {
		openssl_error(err, errsize, "tls_cert", cert);
		return -1;
	}
	return 0;
}

/* The cipher list: tls_ciphers (or OpenSSL's default), without RSA key
 * exchange when the key is remote: the key process only signs, and
 * ECDHE gives forward secrecy besides. 0, or -1 with err. */
static int set_ciphers(SSL_CTX *ssl_ctx, const struct tls_server_settings *set,
		       bool remote, char *err, size_t errsize)
{
	char list[TLS_SETTING_STR + 16];

	if (!remote) {
		if (set->ciphers[0] != '\0' &&
		    SSL_CTX_set_cipher_list(ssl_ctx, set->ciphers) != 1) {
			openssl_error(err, errsize, "tls_ciphers",
				      set->ciphers);
			return -1;
		}
		return 0;
	}
	snprintf(list, sizeof(list), "%s:!kRSA",
		 set->ciphers[0] != '\0' ? set->ciphers : "DEFAULT");
	if (SSL_CTX_set_cipher_list(ssl_ctx, list) != 1) {
		openssl_error(err, errsize, "tls_ciphers", set->ciphers);
		return -1;
	}
	return 0;
}

/* tls_ctx_create's work; rset NULL: the key from set->key, here. */
static int server_ctx_create(const struct tls_server_settings *set,
			     const struct tls_remote_settings *rset,
			     struct tls_ctx **ctx_r,
			     uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			     size_t errsize)
{
	struct tls_remote *remote = NULL;
	struct tls_ctx *ctx;
	SSL_CTX *ssl_ctx;
	int version;

	*ctx_r = NULL;
	if (set->cert[0] == '\0')
		return 0; /* config_finish refuses listen_tls without it */
	if (set->key[0] == '\0') {
		snprintf(err, errsize, "tls_cert is set but tls_key is not");
		return -1;
	}
	if (min_version(set->min_version, &version) < 0) {
		snprintf(err, errsize, "tls_min_version: expected TLSv1.2 or "
			 "TLSv1.3");
		return -1;
	}
	ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (ssl_ctx == NULL) {
		openssl_error(err, errsize, "creating", "the TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, version);
	/* Idle connections give their TLS buffers back (DESIGN.md). */
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_IGNORE_UNEXPECTED_EOF |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ssl_ctx, 0);
	if (rset == NULL ?
	    load_cert_and_key(ssl_ctx, set->cert, set->key, "tls_cert",
			      "tls_key", err, errsize) < 0 :
	    load_cert_remote(ssl_ctx, set->cert, rset, &remote, id_r, err,
			     errsize) < 0)
		goto out_free;
	if (set_ciphers(ssl_ctx, set, rset != NULL, err, errsize) < 0)
		goto out_free;
	if (set->verify_client != TLS_VERIFY_NO) {
		int mode = SSL_VERIFY_PEER;

		if (set->ca[0] == '\0') {
			snprintf(err, errsize, "tls_verify_client needs tls_ca");
			goto out_free;
		}
		if (SSL_CTX_load_verify_locations(ssl_ctx, set->ca,
						  NULL) != 1) {
			openssl_error(err, errsize, "tls_ca", set->ca);
			goto out_free;
		}
		if (set->verify_client == TLS_VERIFY_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ssl_ctx, mode, NULL);
		SSL_CTX_set_client_CA_list(ssl_ctx,
			SSL_load_client_CA_file(set->ca));
		/* A context id is required once peers are verified. */
		SSL_CTX_set_session_id_context(ssl_ctx,
					       (const unsigned char *)"satchel",
					       7);
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errsize, "out of memory");
		goto out_free;
	}
	ctx->ssl_ctx = ssl_ctx;
	ctx->remote = remote;
	*ctx_r = ctx;
	return 0;

out_free:
	SSL_CTX_free(ssl_ctx);
	tls_remote_destroy(&remote);
	return -1;
}

int tls_ctx_create(const struct tls_server_settings *set,
		   struct tls_ctx **ctx_r, char *err, size_t errsize)
{
	return server_ctx_create(set, NULL, ctx_r, NULL, err, errsize);
}

int tls_ctx_create_remote(const struct tls_server_settings *set,
			  const struct tls_remote_settings *remote,
			  struct tls_ctx **ctx_r,
			  uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			  size_t errsize)
{
	return server_ctx_create(set, remote, ctx_r, id_r, err, errsize);
}

int tls_client_ctx_create(const struct tls_client_settings *set,
			  struct tls_ctx **ctx_r, char *err, size_t errsize)
{
	struct tls_ctx *ctx;
	SSL_CTX *ssl_ctx;
	int version = TLS1_2_VERSION;

	*ctx_r = NULL;
	if (set->min_version != NULL &&
	    min_version(set->min_version, &version) < 0) {
		snprintf(err, errsize, "TLS minimum version: expected TLSv1.2 "
			 "or TLSv1.3");
		return -1;
	}
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL) {
		openssl_error(err, errsize, "creating", "the TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, version);
	/* the conn.h write contract, as on the server side */
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	if (set->cert_file != NULL && set->cert_file[0] != '\0' &&
	    load_cert_and_key(ssl_ctx, set->cert_file,
			      set->key_file != NULL && set->key_file[0] != '\0' ?
				      set->key_file :
				      set->cert_file,
			      "client certificate", "client key", err,
			      errsize) < 0)
		goto out_free;
	if (set->verify) {
		const char *ca = set->ca_file;

		if (ca != NULL && ca[0] != '\0') {
			if (SSL_CTX_load_verify_locations(ssl_ctx, ca,
							  NULL) != 1) {
				openssl_error(err, errsize, "CA file", ca);
				goto out_free;
			}
		} else if (SSL_CTX_set_default_verify_paths(ssl_ctx) != 1) {
			openssl_error(err, errsize, "loading",
				      "the system CA store");
			goto out_free;
		}
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errsize, "out of memory");
		goto out_free;
	}
	ctx->ssl_ctx = ssl_ctx;
	ctx->client = true;
	*ctx_r = ctx;
	return 0;

out_free:
	SSL_CTX_free(ssl_ctx);
	return -1;
}

void tls_ctx_destroy(struct tls_ctx **ctxp)
{
	struct tls_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	tls_remote_destroy(&ctx->remote); /* after the key that uses it */
	free(ctx);
	*ctxp = NULL;
}

bool tls_ctx_is_client(const struct tls_ctx *ctx)
{
	return ctx->client;
}

void *tls_ctx_ssl_ctx(struct tls_ctx *ctx)
{
	return ctx->ssl_ctx;
}
