/* sasl.h: the SASL server side inside the auth process. Exchanges are
 * keyed by (worker slot, request id); secrets come from the passwd-file.
 *
 * Mechanisms (sasl_mech.h): PLAIN and LOGIN (sasl_simple.c) hand the
 * password to the one verification path USER/PASS uses (auth_verify.c:
 * on the hash pool, the same dummy for unknown users, the same failure
 * and log); they are refused where plaintext_auth forbids. CRAM-MD5 needs
 * a {PLAIN} secret (gsasl; one HMAC-MD5, nothing to offload).
 * SCRAM-SHA-1/-256 (sasl_scram.c, scram_server.c: one implementation)
 * use a stored {SCRAM-SHA-1}/{SCRAM-SHA-256} secret, else keys derived
 * from {PLAIN} on the hash pool (users with neither get keys derived
 * from nothing, at the same cost, and fail at the proof); their -PLUS
 * forms bind to tls-exporter (RFC 9266) or tls-server-end-point (RFC
 * 5929). tls-unique is not offered (not defined for TLS 1.3).
 * EXTERNAL succeeds when the verified client certificate's CN is the user
 * name (the authzid, when given, must be that same name).
 * GSSAPI (RFC 4752, gsasl over the system's GSS-API, "no security layer"
 * only) maps the principal user@REALM of gssapi_realm to the user "user";
 * KRB5_KTNAME is set to gssapi_keytab in this process.
 * OAUTHBEARER and XOAUTH2 are run here (sasl_bearer.c, sasl_oauth.c,
 * jwt.c): a refused token gets the error challenge and the next client
 * message the failure (RFC 7628 3.2.3).
 * Proxy authorization is not offered: an authzid other than the
 * authenticated user fails.
 *
 * At most SASL_EXCHANGES_MAX exchanges are kept; an exchange is dropped on
 * its final result (a PLAIN/LOGIN password handed to the pool is one), on
 * SASL_ABORT, when its worker slot closes, and when idle for longer than
 * preauth_timeout (checked when the table is full). */
#ifndef SATCHEL_SASL_H
#define SATCHEL_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth_limits.h"
#include "auth/auth_proto.h"
#include "auth/auth_settings.h"
#include "auth/hashpool.h"
#include "auth/passwd.h"
#include "auth/userdb.h"
#include "auth/scram.h"


enum sasl_result {
	SASL_RESULT_NONE,      /* no reply (abort) */
	SASL_RESULT_CONTINUE,  /* send the challenge in out */
	SASL_RESULT_SUCCESS,   /* *entry_r authenticated */
	SASL_RESULT_FAILED,    /* wrong credentials or malformed exchange */
	SASL_RESULT_TEMPFAIL,  /* out of memory, table full, gsasl error */
	SASL_RESULT_PENDING,   /* run o->pending on the hash pool */
	/* a user database lookup was asked for (USERDB_PENDING): nothing
	 * was done, the exchange is as before the message; hand the same
	 * message in again once the lookup finished */
	SASL_RESULT_DB_PENDING,
};

enum sasl_pending_kind {
	/* check password for user exactly as USER/PASS does; the exchange
	 * is over (dropped): the check's result is the login's */
	SASL_PENDING_PASSWORD,
	/* derive scram's StoredKey/ServerKey from password (its hash, salt
	 * and count set), then sasl_server_resume() with them; the
	 * exchange waits */
	SASL_PENDING_SCRAM_KEYS,
};

/* What a step hands to the hash pool. Holds a password: the caller
 * wipes it (explicit_bzero) once submitted. */
struct sasl_pending {
	enum sasl_pending_kind kind;
	char user[AUTH_USER_MAX];           /* PASSWORD: the authcid */
	char password[HASHPOOL_PASSWORD_MAX];
	/* PASSWORD: fail whatever the check says (an authzid naming
	 * another user): the cost is paid all the same */
	bool refuse;
	struct scram_secret scram;          /* SCRAM_KEYS: hash, salt, iter */
};

/* What one step produced. The caller sets out and out_size; the rest is
 * filled in. */
struct sasl_outcome {
	unsigned char *out;           /* CONTINUE: the challenge */
	size_t out_size, out_len;
	/* SUCCESS: the user's record (valid until the db changes) */
	const struct passwd_entry *entry;
	char user[AUTH_USER_MAX];     /* the name claimed, for logs, or "" */
	const char *mech;             /* the exchange's mechanism, or "" */
	const char *why;              /* why it failed, for logs */
	struct sasl_pending pending;  /* PENDING */
};

struct sasl_server;

/* Initialises gsasl and checks that it serves every enabled mechanism
 * (logging those it cannot); loads the OAuth key. With GSSAPI it calls
 * setenv(KRB5_KTNAME): call it before the process starts threads. 0 or
 * -1. */
int sasl_server_create(const struct auth_settings *set, struct sasl_server **ss_r);
void sasl_server_destroy(struct sasl_server **ssp);

/* Handles one SASL request from slot (data_len already checked against
 * the message length). db is the current user database (may be NULL:
 * TEMPFAIL). The result and *o as described there. Never logs secrets. */
enum sasl_result sasl_server_handle(struct sasl_server *ss, uint32_t slot,
				    const struct auth_sasl_request *req,
				    struct userdb *db,
				    struct sasl_outcome *o);

/* The SCRAM keys asked for by SASL_PENDING_SCRAM_KEYS came back (NULL:
 * the derivation failed): continues exchange (slot, id), which may have
 * gone meanwhile (then SASL_RESULT_NONE: no reply). */
enum sasl_result sasl_server_resume(struct sasl_server *ss, uint32_t slot,
				    uint64_t id, struct userdb *db,
				    const struct scram_secret *keys,
				    struct sasl_outcome *o);

/* Drops every exchange of slot (its worker socket closed). */
void sasl_server_forget_slot(struct sasl_server *ss, uint32_t slot);

/* Logs, once per load, how many users cannot use an enabled mechanism
 * because they lack the secret it needs (so an admin sees why clients
 * that pick the strongest mechanism fail). */
void sasl_server_check_db(const struct sasl_server *ss,
			  struct userdb *db);

#endif
