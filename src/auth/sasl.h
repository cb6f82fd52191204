/* sasl.h: the SASL server side inside the auth process: one GNU SASL
 * (gsasl) session per exchange, keyed by (worker slot, request id), with
 * secrets supplied from the passwd-file by gsasl callbacks.
 *
 * Mechanisms (sasl_mech.h): PLAIN and LOGIN check the password against
 * the user's password field (any scheme; refused where plaintext_auth
 * forbids); CRAM-MD5 needs a {PLAIN} secret; SCRAM-SHA-1/-256 use a
 * stored {SCRAM-SHA-1}/{SCRAM-SHA-256} secret, else derive from {PLAIN};
 * their -PLUS forms bind to the tls-exporter (RFC 9266, through gsasl)
 * or the tls-server-end-point (RFC 5929) channel binding: gsasl 2.2 does
 * not know the latter, so a -PLUS exchange whose client-first message
 * asks for it runs in scram_server.c instead, with the same secrets
 * (sasl_scram_lookup), failures and limits. tls-unique is not offered
 * (not defined for TLS 1.3).
 * EXTERNAL succeeds when the verified client certificate's CN is the user
 * name (the authzid, when given, must be that same name).
 * GSSAPI (RFC 4752, gsasl over the system's GSS-API, "no security layer"
 * only) maps the principal user@REALM of gssapi_realm to the user "user";
 * KRB5_KTNAME is set to gssapi_keytab in this process.
 * OAUTHBEARER and XOAUTH2 are run here (sasl_oauth.c, jwt.c): a refused
 * token gets the error challenge and the next client message the
 * failure (RFC 7628 3.2.3).
 * Proxy authorization is not offered: an authzid other than the
 * authenticated user fails.
 *
 * At most SASL_EXCHANGES_MAX exchanges are kept; an exchange is dropped on
 * its final result, on SASL_ABORT, when its worker slot closes, and when
 * idle for longer than preauth_timeout (checked when the table is full). */
#ifndef SATCHEL_SASL_H
#define SATCHEL_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth_proto.h"
#include "auth/passwd.h"
#include "util/config.h"

#define SASL_EXCHANGES_MAX 4096

enum sasl_result {
	SASL_RESULT_NONE,      /* no reply (abort) */
	SASL_RESULT_CONTINUE,  /* send the challenge in out */
	SASL_RESULT_SUCCESS,   /* *entry_r authenticated */
	SASL_RESULT_FAILED,    /* wrong credentials or malformed exchange */
	SASL_RESULT_TEMPFAIL,  /* out of memory, table full, gsasl error */
};

struct sasl_server;

/* Initialises gsasl and checks that it serves every enabled mechanism
 * (logging those it cannot); loads the OAuth key. With GSSAPI it calls
 * setenv(KRB5_KTNAME): call it before the process starts threads. 0 or
 * -1. */
int sasl_server_create(const struct config *cfg, struct sasl_server **ss_r);
void sasl_server_destroy(struct sasl_server **ssp);

/* Handles one SASL request from slot (data_len already checked against
 * the message length). db is the current user database (may be NULL:
 * TEMPFAIL). On CONTINUE, out/out_len_r hold the challenge. On SUCCESS
 * *entry_r is the user's record (valid until db changes). user_r gets the
 * name the client claimed, for logs (may be ""), *mech_r the exchange's
 * mechanism (may be ""), *why_r a reason for logs on failure. Never logs secrets. */
enum sasl_result sasl_server_handle(struct sasl_server *ss, uint32_t slot,
				    const struct auth_sasl_request *req,
				    const struct passwd_db *db,
				    unsigned char *out, size_t out_size,
				    size_t *out_len_r,
				    const struct passwd_entry **entry_r,
				    char *user_r, size_t user_size,
				    const char **mech_r, const char **why_r);

/* Drops every exchange of slot (its worker socket closed). */
void sasl_server_forget_slot(struct sasl_server *ss, uint32_t slot);

/* Logs, once per load, how many users cannot use an enabled mechanism
 * because they lack the secret it needs (so an admin sees why clients
 * that pick the strongest mechanism fail). */
void sasl_server_check_db(const struct sasl_server *ss,
			  const struct passwd_db *db);

#endif
