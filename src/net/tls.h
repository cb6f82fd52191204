/* tls.h: TLS contexts (OpenSSL 3) for net/conn.c, server and client.
 *
 * The server context is built in the master, as root, and workers
 * inherit it across fork(). Its private key is not in it: the key
 * process holds that (tls_remote.h, docs/security.md), and the context
 * has the certificate's public key with methods that ask the key
 * process. Only `serve --stdio` (one session, no workers) loads the key
 * itself. A SIGHUP builds a new context and key process for the new
 * generation of workers: certificates reload without dropping
 * sessions. A client context (the bench, the fetch
 * client) says how to check the servers it connects to. */
#ifndef SATCHEL_TLS_H
#define SATCHEL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tls_remote.h"

struct tls_ctx;

#define TLS_SETTING_STR 1024

enum tls_verify { TLS_VERIFY_NO, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRED };

/* A server's TLS, as satchel.conf's tls_* keys set it. */
struct tls_server_settings {
	char cert[TLS_SETTING_STR];      /* chain, leaf first; "" = no TLS */
	char key[TLS_SETTING_STR];
	char min_version[16];            /* TLSv1.2 or TLSv1.3 */
	char ciphers[TLS_SETTING_STR];   /* TLS 1.2 cipher list; "" = default */
	char ca[TLS_SETTING_STR];        /* CAs for client certificates */
	enum tls_verify verify_client;
	unsigned handshake_timeout;      /* seconds */
};

/* Builds the context from set. A missing or unreadable file or a key
 * that does not match the certificate is an error. Returns 0 and *ctx_r
 * (NULL when set->cert is empty: TLS off), or -1 with err. */
int tls_ctx_create(const struct tls_server_settings *set,
		   struct tls_ctx **ctx_r, char *err, size_t errsize);
/* The same with the private key in the key process: set->key is not
 * read here. RSA key exchange is left out of the cipher list (the key
 * process only signs). The id (keyproto.h) of the certificate's key in
 * id_r, for the master to check against the key process's. Errors as
 * tls_ctx_create, and a certificate key neither RSA nor EC. */
int tls_ctx_create_remote(const struct tls_server_settings *set,
			  const struct tls_remote_settings *remote,
			  struct tls_ctx **ctx_r,
			  uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			  size_t errsize);

struct tls_client_settings {
	/* verify the server's certificate chain and name (conn.h); false
	 * accepts any certificate, for benchmarks against test servers */
	bool verify;
	/* PEM file of trusted CAs; NULL or "": the system store
	 * (OpenSSL's default paths) */
	const char *ca_file;
	/* "TLSv1.2" or "TLSv1.3"; NULL: TLSv1.2 */
	const char *min_version;
	/* a client certificate chain (PEM) and its key (NULL or "": in
	 * the certificate's file), for SASL EXTERNAL; NULL or "": none */
	const char *cert_file;
	const char *key_file;
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
