/* scram_server.h: the server side of SCRAM (RFC 5802, RFC 7677) with
 * OpenSSL: the one SCRAM implementation of satchel, for SCRAM-SHA-1 and
 * SCRAM-SHA-256 and their -PLUS forms with either channel binding the
 * worker knows (RFC 9266 tls-exporter, RFC 5929 tls-server-end-point;
 * gsasl 2.2 knows only the first, so SCRAM no longer goes through it).
 *
 * No secrets are looked up here: after the client-first message the
 * caller looks up the user (its salt, count, StoredKey and ServerKey,
 * derived on the hash pool when they have to be) and passes them to
 * scram_server_first().
 *
 * Limits: a client-first message of at most SCRAM_SERVER_MSG_MAX octets
 * and a client-final one of at most as many; user names and
 * authorization identities of fewer than SCRAM_SERVER_NAME_MAX octets
 * once decoded. No NUL anywhere. The reserved "m=" attribute fails (RFC
 * 5802 5.1); other extensions are ignored. */
#ifndef SATCHEL_SCRAM_SERVER_H
#define SATCHEL_SCRAM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/scram.h"

#define SCRAM_SERVER_MSG_MAX 2048
#define SCRAM_SERVER_NAME_MAX 256
#define SCRAM_SERVER_CB_NAME_MAX 32
#define SCRAM_SERVER_CB_MAX 64       /* binding data octets */
#define SCRAM_SERVER_NONCE_RAND 18   /* our nonce: 24 base64 chars */

/* A parsed client-first-message (RFC 5802 7.). */
struct scram_client_first {
	char cbind_flag;                       /* 'n', 'y' or 'p' */
	char cb_name[SCRAM_SERVER_CB_NAME_MAX]; /* with 'p' */
	char authzid[SCRAM_SERVER_NAME_MAX];   /* decoded; "" when absent */
	char user[SCRAM_SERVER_NAME_MAX];      /* decoded (=2C, =3D) */
	size_t gs2_len;    /* octets of the gs2 header, both ',' included */
	size_t nonce_off;  /* the client nonce within the message */
	size_t nonce_len;
};

/* Parses in (len octets, not NUL-terminated). 0, or -1 with *why_r (a
 * static string for logs, with no client data). */
int scram_parse_client_first(const unsigned char *in, size_t len,
			     struct scram_client_first *cf_r,
			     const char **why_r);

enum scram_server_step {
	SCRAM_SERVER_WANT_FIRST,   /* scram_server_client_first() next */
	SCRAM_SERVER_WANT_SECRET,  /* scram_server_first() next */
	SCRAM_SERVER_WANT_FINAL,   /* scram_server_client_final() next */
	SCRAM_SERVER_DONE,         /* proof checked (or failed) */
};

/* A channel binding the server can check: its RFC 5056 name and data. */
struct scram_binding {
	char name[SCRAM_SERVER_CB_NAME_MAX];
	unsigned char data[SCRAM_SERVER_CB_MAX];
	size_t len;
};

#define SCRAM_SERVER_BINDINGS_MAX 2

struct scram_server {
	enum scram_hash hash;
	enum scram_server_step step;
	bool plus;                 /* a -PLUS mechanism: binding required */
	struct scram_binding cb[SCRAM_SERVER_BINDINGS_MAX];
	size_t n_cb;
	struct scram_client_first cf;
	/* gs2 header + binding data, base64: what c= must be */
	char cbind_b64[((SCRAM_SERVER_MSG_MAX + SCRAM_SERVER_CB_MAX + 2) / 3)
		       * 4 + 1];
	char nonce[SCRAM_SERVER_MSG_MAX + 32]; /* client + server nonce */
	/* client-first-message-bare "," server-first-message ","
	 * client-final-message-without-proof */
	char auth_msg[3 * SCRAM_SERVER_MSG_MAX + 128];
	size_t auth_len;
	unsigned char stored_key[SCRAM_KEY_MAX];
	unsigned char server_key[SCRAM_KEY_MAX];
};

/* Starts an exchange of hash. plus: a -PLUS mechanism, whose client
 * must bind ("p=") to one of the n_cb bindings of cb (at most
 * SCRAM_SERVER_BINDINGS_MAX; those with an empty name or no data are
 * skipped). Without plus the client must not bind, and one saying "y"
 * (it could bind but thinks we cannot) fails when any binding is there:
 * a -PLUS offer was stripped on the way (RFC 5802 6.). */
void scram_server_init(struct scram_server *s, enum scram_hash hash,
		       bool plus, const struct scram_binding *cb,
		       size_t n_cb);

/* Takes the client-first message, checking its gs2 header against the
 * rules of scram_server_init(). 0 (s->cf.user and s->cf.authzid are then
 * set), or -1 with *why_r. */
int scram_server_client_first(struct scram_server *s,
			      const unsigned char *in, size_t len,
			      const char **why_r);

/* Makes the server-first message into out (size octets) with the user's
 * count and salt; stored_key and server_key (scram_key_len() octets) are
 * kept to check the proof. 0 with *len_r, or -1. */
int scram_server_first(struct scram_server *s, unsigned iter,
		       const unsigned char *salt, size_t salt_len,
		       const unsigned char *stored_key,
		       const unsigned char *server_key, unsigned char *out,
		       size_t size, size_t *len_r);

/* Checks the client-final message: c= must be exactly base64(gs2 header
 * + binding data), r= our combined nonce, p= the proof of StoredKey.
 * 0 with the server-final message ("v=...") in out, or -1 with *why_r. */
int scram_server_client_final(struct scram_server *s,
			      const unsigned char *in, size_t len,
			      unsigned char *out, size_t size, size_t *len_r,
			      const char **why_r);

/* Wipes the state (keys, messages). */
void scram_server_clear(struct scram_server *s);

#endif
