/* keyproto.h: the messages between a worker and the key process
 * (docs/security.md): a worker asks for one private-key operation on
 * its own SOCK_SEQPACKET channel and waits for the answer.
 *
 * Every message has a fixed size, so a receiver checks one length and
 * never parses a field it did not bound. The key process trusts nothing
 * in a request: it refuses a key id that is not its key's, an operation
 * or digest it does not know, and an RSA block that is not shaped like
 * a PSS encoding (so the raw operation cannot decrypt). */
#ifndef SATCHEL_KEYPROTO_H
#define SATCHEL_KEYPROTO_H

#include <stdint.h>

/* SHA-256 of the DER SubjectPublicKeyInfo: names the key, from the
 * certificate in the worker and from the private key in the key
 * process. */
#define KEYPROTO_ID_LEN 32
/* An RSA-8192 block or signature; a digest or DER ECDSA signature is
 * far smaller. */
#define KEYPROTO_DATA_MAX 1024

enum keyproto_op {
	/* PKCS #1 v1.5 signature of data (a digest of md_nid): TLS 1.2 */
	KEYPROTO_RSA_PKCS1 = 1,
	/* the RSA private operation on data, an EMSA-PSS encoded block
	 * (OpenSSL encodes it in the worker): TLS 1.2 and 1.3 */
	KEYPROTO_RSA_PSS_BLOCK = 2,
	/* ECDSA signature (DER) of data, a digest */
	KEYPROTO_ECDSA = 3,
};

struct keyproto_req {
	uint32_t seq;          /* echoed in the reply */
	uint32_t op;           /* enum keyproto_op */
	uint32_t md_nid;       /* KEYPROTO_RSA_PKCS1: the digest's NID */
	uint32_t len;          /* of data, at most KEYPROTO_DATA_MAX */
	uint8_t key_id[KEYPROTO_ID_LEN];
	uint8_t data[KEYPROTO_DATA_MAX];
};

enum keyproto_status {
	KEYPROTO_OK = 0,
	KEYPROTO_UNKNOWN_KEY = 1,  /* key_id is not this process's key */
	KEYPROTO_REFUSED = 2,      /* bad op, digest, length or block */
	KEYPROTO_FAILED = 3,       /* OpenSSL failed */
};

struct keyproto_resp {
	uint32_t seq;
	uint32_t status;       /* enum keyproto_status */
	uint32_t len;          /* of data (the signature) when OK */
	uint8_t data[KEYPROTO_DATA_MAX];
};

/* The key process's one message to the master after loading the key:
 * its id, or why it could not. */
struct keyproto_hello {
	uint32_t ok;
	uint8_t key_id[KEYPROTO_ID_LEN];
	char error[512];
};

#endif
