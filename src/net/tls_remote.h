/* tls_remote.h: a private key that lives in the key process (issue 13,
 * docs/security.md). The worker holds only the certificate's public key
 * with OpenSSL methods that send each private operation to the key
 * process and wait for the answer.
 *
 * The wait is synchronous, bounded by timeout_ms: OpenSSL asks for the
 * signature inside SSL_do_handshake. A key process that died shows at
 * once (EOF): the worker opens a new channel, which the restarted key
 * process picks up, and asks once more, within timeout_ms again; only
 * then does the handshake fail. */
#ifndef SATCHEL_TLS_REMOTE_H
#define SATCHEL_TLS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "net/keyproto.h"

struct tls_remote;

struct tls_remote_settings {
	/* SOCK_SEQPACKET, non-blocking, shared by the workers of a
	 * generation: a new channel's end is passed over it (fdpass.h) */
	int connect_fd;
	unsigned timeout_ms;   /* for one operation */
};

/* A key object (an EVP_PKEY *, the caller's to free) with x509's public
 * key (an X509 *) whose private operations go to the key process, and
 * *remote_r, the channel state it uses (freed with tls_remote_destroy
 * after the key). RSA and EC keys. The key's id (keyproto.h) in id_r.
 * 0, or -1 with err. */
int tls_remote_key_create(const struct tls_remote_settings *set, void *x509,
			  void **pkey_r, struct tls_remote **remote_r,
			  uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			  size_t errsize);
void tls_remote_destroy(struct tls_remote **remotep);

#endif
