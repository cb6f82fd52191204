/* tls_keyop.h: the private key as the key process holds and uses it
 * (keyproto.h): loading it from a descriptor, naming it, and the few
 * operations a TLS server needs. Nothing here talks to a socket. */
#ifndef SATCHEL_TLS_KEYOP_H
#define SATCHEL_TLS_KEYOP_H

#include <stddef.h>
#include <stdint.h>

#include "net/keyproto.h"

struct tls_keyop;

/* Reads a PEM private key (RSA or EC; no passphrase) from fd, from its
 * start; what names the file in an error. 0 and *key_r, or -1 with err. */
int tls_keyop_load(int fd, const char *what, struct tls_keyop **key_r,
		   char *err, size_t errsize);
/* Wipes and frees the key. Sets *keyp to NULL. */
void tls_keyop_destroy(struct tls_keyop **keyp);
/* Its id (keyproto.h). */
const uint8_t *tls_keyop_id(const struct tls_keyop *key);

/* Answers req (untrusted: every field is checked) into resp. */
void tls_keyop_perform(struct tls_keyop *key, const struct keyproto_req *req,
		       struct keyproto_resp *resp);

/* The id of any key, public or private (an EVP_PKEY *): the SHA-256 of
 * its DER SubjectPublicKeyInfo. 0 or -1. */
int tls_keyop_pkey_id(void *pkey, uint8_t id_r[KEYPROTO_ID_LEN]);

#endif
