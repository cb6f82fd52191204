/* sasl_mech.h: the table of SASL mechanisms satchel offers (RFC 4422),
 * shared by the config (sasl_mechanisms), the workers (CAPA, AUTH) and
 * the auth process. No gsasl here: workers only need names and rules. */
#ifndef SATCHEL_SASL_MECH_H
#define SATCHEL_SASL_MECH_H

#include <stdbool.h>
#include <stddef.h>

enum sasl_mech_flag {
	/* the password crosses the wire: plaintext_auth decides */
	SASL_MECH_PLAINTEXT = 0x1,
	/* -PLUS: only with channel binding data (TLS) */
	SASL_MECH_CHANNEL_BINDING = 0x2,
	/* needs a verified TLS client certificate */
	SASL_MECH_CLIENT_CERT = 0x4,
	/* the server needs the {PLAIN} secret (CRAM-MD5) */
	SASL_MECH_NEEDS_PLAIN = 0x8,
	/* offered only with a readable gssapi_keytab (GSSAPI) */
	SASL_MECH_NEEDS_KEYTAB = 0x10,
	/* offered only with a readable oauth_public_key; the bearer token
	 * is a secret on the wire, so these are SASL_MECH_PLAINTEXT too */
	SASL_MECH_NEEDS_TOKEN_KEY = 0x20,
	/* not a SASL mechanism a client can name: the exchange a KPOP
	 * listener runs (serve/session_kpop.c) through the same path;
	 * never in sasl_mechanisms, CAPA or AUTH */
	SASL_MECH_INTERNAL = 0x40,
};

/* Who runs the server side in the auth process: the password mechanisms
 * PLAIN and LOGIN (sasl_simple.c) and SCRAM (sasl_scram.c with
 * scram_server.c) are ours, so their password checks and key derivations
 * run on the auth process's hash pool like USER/PASS; gsasl runs
 * CRAM-MD5, EXTERNAL and GSSAPI (with the keytab from the config);
 * sasl_oauth.c the bearer tokens of OAUTHBEARER and XOAUTH2 (gsasl 2.2
 * has neither). */
enum sasl_backend {
	SASL_BACKEND_GSASL,
	SASL_BACKEND_OAUTH,
	SASL_BACKEND_SIMPLE,
	SASL_BACKEND_SCRAM,
	SASL_BACKEND_KPOP,     /* sasl_kpop.c: krb5_rd_req on the keytab */
};

struct auth_settings;

struct sasl_mech {
	const char *name;       /* as in CAPA and AUTH, upper case */
	unsigned flags;         /* enum sasl_mech_flag */
	enum sasl_backend backend;
};

/* Mechanisms in the order CAPA lists them (strongest first). */
size_t sasl_mech_count(void);
const struct sasl_mech *sasl_mech_get(size_t i);
/* Case-insensitive lookup; *index_r is the bit of the mechanism in a
 * mask. NULL when unknown. */
const struct sasl_mech *sasl_mech_find(const char *name, size_t *index_r);

/* True when what m needs from the config is there: the keytab for
 * GSSAPI, the public key for the OAuth ones; with check_files, also
 * readable by this process (the auth process checks; workers run as
 * another user and only see the config).
 * Enabled-ness (sasl_mechanisms) is the caller's business. */
bool sasl_mech_configured(const struct sasl_mech *m,
			  const struct auth_settings *set, bool check_files);

/* Parses a list of names separated by blanks or commas into a bit mask
 * (bit i = sasl_mech_get(i)). 0, or -1 with *bad_r pointing at a static
 * copy of the unknown name. "" gives 0 (AUTH disabled). */
int sasl_mech_parse_list(const char *list, unsigned *mask_r,
			 const char **bad_r);

#endif
