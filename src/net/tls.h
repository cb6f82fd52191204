/* tls.h: TLS contexts (OpenSSL 3) for net/conn.c, server and client.
 *
 * The server context is built in the master, as root, so key files may
 * stay readable by root only; workers inherit it across fork(). A SIGHUP
 * builds a new one for the new generation of workers: certificates reload
 * without dropping sessions. A client context (the bench, the fetch
 * client) says how to check the servers it connects to. */
#ifndef SATCHEL_TLS_H
#define SATCHEL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/config.h"

struct tls_ctx;

/* Builds the context from tls_cert, tls_key, tls_min_version,
 * tls_ciphers, tls_ca and tls_verify_client. A missing or unreadable file
 * or a key that does not match the certificate is an error. Returns 0 and
 * *ctx_r (NULL when no tls_cert is configured: TLS off), or -1 with err. */
int tls_ctx_create(const struct config *cfg, struct tls_ctx **ctx_r,
		   char *err, size_t errsize);

struct tls_client_settings {
	/* verify the server's certificate chain and name (conn.h); false
	 * accepts any certificate, for benchmarks against test servers */
	bool verify;
	/* PEM file of trusted CAs; NULL or "": the system store
	 * (OpenSSL's default paths) */
	const char *ca_file;
	/* "TLSv1.2" or "TLSv1.3"; NULL: TLSv1.2 */
	const char *min_version;
};

/* Builds a client context. Every connection made with it does a full
 * handshake: it keeps no sessions to resume (the bench measures the
 * server's worst case; the fetch client has nowhere to keep them).
 * Returns 0 and *ctx_r, or -1 with err (an unreadable CA file, a bad
 * min_version). */
int tls_client_ctx_create(const struct tls_client_settings *set,
			  struct tls_ctx **ctx_r, char *err, size_t errsize);
/* Either kind. Sets *ctxp to NULL. */
void tls_ctx_destroy(struct tls_ctx **ctxp);

/* True for a tls_client_ctx_create() context, for conn.c. */
bool tls_ctx_is_client(const struct tls_ctx *ctx);

/* The OpenSSL SSL_CTX, for conn.c only. */
void *tls_ctx_ssl_ctx(struct tls_ctx *ctx);

#endif
