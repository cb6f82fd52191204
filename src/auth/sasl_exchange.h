/* sasl_exchange.h: inside the SASL server (sasl.c and the mechanism
 * files): one exchange, the server state, and the step function of each
 * backend. Not for use outside src/auth/sasl*.c.
 *
 * Every step runs on the auth process's main thread with the exchange's
 * ex->db set for its length. A step that needs a password checked or
 * SCRAM keys derived fills o->pending and returns SASL_RESULT_PENDING:
 * the work runs on the hash pool (auth_verify.c), never here. */
#ifndef SATCHEL_SASL_EXCHANGE_H
#define SATCHEL_SASL_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gsasl.h>

#include "auth/sasl.h"
#include "auth/sasl_mech.h"
#include "auth/scram_server.h"

struct sasl_exchange {
	uint32_t slot;
	uint64_t id;
	Gsasl_session *gs;            /* SASL_BACKEND_GSASL only */
	const struct sasl_mech *mech;
	struct sasl_server *ss;
	struct userdb *db;   /* set for the length of one step */
	time_t last_used;
	bool secured;
	bool success_sent;            /* waiting for the empty response */
	bool waiting;                 /* SCRAM keys on the pool: no step */
	bool oauth_error_sent;        /* waiting for the dummy response */
	const char *oauth_why;        /* why the token was refused */
	char user[AUTH_USER_MAX];     /* PLAIN, LOGIN, OAuth: for logs */
	unsigned login_state;         /* LOGIN: 0, 1 name asked, 2 password;
					 KPOP: 0, 1 verified, 2 refused */
	const char *kpop_why;         /* KPOP: why the AP_REQ was refused */
	char peer_cn[AUTH_USER_MAX];
	/* START's channel bindings: RFC 9266 tls-exporter and RFC 5929
	 * tls-server-end-point, either may be empty */
	struct scram_binding cb[SCRAM_SERVER_BINDINGS_MAX];
	struct scram_server *scram;   /* SASL_BACKEND_SCRAM */
	bool scram_known;             /* the user has a usable secret */
};

struct sasl_server {
	const struct auth_settings *set;
	Gsasl *ctx;
	struct sasl_exchange *ex[SASL_EXCHANGES_MAX];
	size_t n_ex;
	/* keys fake SCRAM salts of users without a SCRAM secret, so the
	 * salt a prober sees does not tell who exists; kept in state_dir
	 * so a restart does not change them (sasl_scram.c) */
	unsigned char fake_key[32];
	/* GSSAPI: the acceptor's host name and the realm users are in */
	char gss_hostname[256];
	char gss_realm[256];
	struct sasl_oauth *oauth;     /* NULL: OAuth logins TEMPFAIL */
	/* set by sasl_lookup during a step that met USERDB_PENDING */
	bool db_pending;
};

/* sasl.c: the user record of a name (NULL: unknown, disabled, or a name
 * that could leave the mail directory), the plaintext_auth policy, and
 * who an exchange that ended well authenticated. */
const struct passwd_entry *sasl_lookup(const struct sasl_exchange *ex,
				       const char *user);
bool sasl_plaintext_ok(const struct sasl_exchange *ex);
enum sasl_result sasl_success(struct sasl_exchange *ex, const char *user,
			      const char *authzid, struct sasl_outcome *o);

/* sasl_simple.c: PLAIN (RFC 4616) and LOGIN. in is NULL when there is no
 * client data (START without an initial response). */
enum sasl_result sasl_simple_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  struct sasl_outcome *o);

/* sasl_scram.c: SCRAM-SHA-1/-256 and -PLUS. */
enum sasl_result sasl_scram_step(struct sasl_exchange *ex,
				 const unsigned char *in, size_t in_len,
				 struct sasl_outcome *o);
/* Continues after the keys of SASL_PENDING_SCRAM_KEYS came back (keys
 * NULL: the derivation failed). */
enum sasl_result sasl_scram_resume(struct sasl_exchange *ex,
				   const struct scram_secret *keys,
				   struct sasl_outcome *o);
/* Loads the fake salt key from state_dir, making it once; a random key
 * for this process only when state_dir is "" or unusable (logged). */
void sasl_scram_key_load(struct sasl_server *ss);

/* sasl_gsasl.c: the mechanisms gsasl runs (CRAM-MD5, EXTERNAL, GSSAPI):
 * its callback, one step, and GSSAPI's setup. */
void sasl_gsasl_setup(struct sasl_server *ss);
int sasl_gsasl_start(struct sasl_exchange *ex);
enum sasl_result sasl_gsasl_step(struct sasl_exchange *ex,
				 const unsigned char *in, size_t in_len,
				 struct sasl_outcome *o);
/* The name the client claimed so far in a gsasl exchange, or NULL. */
const char *sasl_gsasl_user(const struct sasl_exchange *ex);

/* sasl_kpop.c: KPOP's two steps (auth_proto.h, "KPOP"). */
enum sasl_result sasl_kpop_step(struct sasl_exchange *ex,
				const unsigned char *in, size_t in_len,
				struct sasl_outcome *o);

/* sasl_bearer.c: one OAUTHBEARER or XOAUTH2 step. */
enum sasl_result sasl_bearer_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  struct sasl_outcome *o);

#endif
