/* tls.h: the server's TLS settings (OpenSSL 3). The context is built in
 * the master, as root, so key files may stay readable by root only;
 * workers inherit it across fork(). A SIGHUP builds a new one for the new
 * generation of workers: certificates reload without dropping sessions. */
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
void tls_ctx_destroy(struct tls_ctx **ctxp);

/* The OpenSSL SSL_CTX, for conn.c only. */
void *tls_ctx_ssl_ctx(struct tls_ctx *ctx);

#endif
