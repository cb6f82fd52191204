/* auth_proto.h: the typed messages between a worker and the auth process.
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET socketpair per worker, so every
 * send() is one whole message. Each message is exactly one struct below;
 * the receiver rejects any other length and forces NUL termination of every
 * string field before use (it trusts nothing from the other side).
 * Requests carry an id chosen by the worker; the reply echoes it. Replies
 * may come back in any order.
 *
 * Two messages have a variable tail: struct auth_sasl_request and struct
 * auth_reply end in a data[] array of which only data_len octets are
 * sent (message length = offsetof(data) + data_len, checked exactly).
 * The receiver tells requests apart by the leading type field: PASS,
 * APOP and LOGOUT are struct auth_request, the SASL types struct
 * auth_sasl_request.
 *
 * SASL (RFC 4422 over RFC 5034): the worker sends SASL_START with the
 * mechanism and the decoded initial response (if any), then one
 * SASL_CONTINUE per client line, all with the same id (one exchange per
 * session at a time). Each is answered by AUTH_CONTINUE with the server
 * challenge in data (the worker sends it as "+ BASE64"), or by a final
 * result exactly like PASS. SASL_ABORT (no reply) drops the exchange:
 * sent on "*", bad client base64 and when the session ends mid-exchange.
 * Server data that comes with success (SCRAM's v=) is sent as one more
 * AUTH_CONTINUE; the client's empty answer then gets the result (RFC 5034
 * 4.: POP3 has no "additional data with success").
 *
 * KPOP (a kpop_listen connection, serve/session_kpop.c) runs as the
 * internal mechanism "KPOP" (never one a client can name): SASL_START's
 * data is the sendauth AP_REQ; AUTH_CONTINUE answers with data[0]
 * AUTH_KPOP_AP_REP and the AP_REP after it (nothing after it when the
 * client did not ask for mutual authentication), or AUTH_KPOP_KRB_ERROR
 * and a KRB_ERROR for the client (the exchange then only fails). At PASS
 * the worker sends SASL_CONTINUE with the USER name as data: the final
 * result, AUTH_OK only when the ticket's client principal is that user. */
#ifndef SATCHEL_AUTH_PROTO_H
#define SATCHEL_AUTH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_USER_MAX 256
#define AUTH_SECRET_MAX 256
#define AUTH_TIMESTAMP_MAX 256
/* client_addr: the client as the logs name it, an address (IPv6 at most
 * 45 octets) and from a POP3 worker " session=" and its 16-digit id */
#define AUTH_ADDR_MAX 96
#define AUTH_PATH_MAX 1024
#define AUTH_PROXY_HOST_MAX 72
#define AUTH_TICKET_MAX 136 /* PROXYTICKET_MAX */

enum auth_request_type {
	AUTH_REQ_PASS = 1,   /* USER + PASS: secret = password (and an
				LMTP worker's AUTH PLAIN: no session) */
	AUTH_REQ_APOP = 2,   /* APOP: secret = 32 hex digits, timestamp set */
	AUTH_REQ_LOGOUT = 3, /* a session of user ended: frees its slot */
	AUTH_REQ_SASL_START = 4,    /* struct auth_sasl_request */
	AUTH_REQ_SASL_CONTINUE = 5, /* struct auth_sasl_request */
	AUTH_REQ_SASL_ABORT = 6,    /* struct auth_sasl_request, no reply */
	/* a granted login reached TRANSACTION (its maildrop opened): only
	 * now does it count for LOGIN-DELAY and get its "login:" line;
	 * user and client_addr set, no reply */
	AUTH_REQ_LOGIN_DONE = 7,
	/* a user database lookup with no secret, for delivery (LMTP
	 * workers): user is the recipient's local part or address as the
	 * MTA gave it; the reply is AUTH_OK with the user record (no
	 * session counted, no LOGIN-DELAY), AUTH_FAILED for an unknown
	 * user, AUTH_TEMPFAIL / AUTH_PERMFAIL as for a login */
	AUTH_REQ_USERDB = 8,
};

struct auth_request {
	uint32_t type;        /* enum auth_request_type */
	uint64_t id;          /* chosen by the worker, never reused */
	char user[AUTH_USER_MAX];
	char secret[AUTH_SECRET_MAX];       /* wiped after use on both sides */
	char timestamp[AUTH_TIMESTAMP_MAX]; /* APOP greeting timestamp <...> */
	char client_addr[AUTH_ADDR_MAX];    /* for logs only (see above) */
	uint8_t secured;                    /* connection is TLS or loopback */
	/* PASS: the session came through a trusted proxy, so secret may be
	 * a proxy ticket (proxyticket.h) */
	uint8_t via_proxy;
};

/* Decoded client data of one SASL message: what a sasl_max_line of at
 * most 65536 octets (with CRLF) of base64 can carry. */
#define AUTH_SASL_DATA_MAX 49152
/* Server challenge data (SCRAM's are ~100 octets, GSSAPI tokens a few
 * hundred). */
#define AUTH_SASL_OUT_MAX 8192
#define AUTH_MECH_MAX 32
#define AUTH_KPOP_AP_REP 0
#define AUTH_KPOP_KRB_ERROR 1
#define AUTH_CB_MAX 64

/* The type of the second channel binding of a SASL START. */
enum auth_cb_type {
	AUTH_CB_NONE = 0,
	AUTH_CB_TLS_SERVER_END_POINT = 1, /* RFC 5929 4.1 */
};

struct auth_sasl_request {
	uint32_t type;        /* AUTH_REQ_SASL_* */
	uint64_t id;          /* chosen by the worker, never reused */
	char mech[AUTH_MECH_MAX];        /* START: the mechanism, upper case */
	char client_addr[AUTH_ADDR_MAX]; /* for logs only */
	/* START: the TLS client certificate's subject CN when it was
	 * verified against tls_ca (for EXTERNAL), else "" */
	char peer_cn[AUTH_USER_MAX];
	uint8_t secured;      /* TLS or loopback: plaintext_auth policy */
	uint8_t has_data;     /* START: an initial response was given (RFC
			       * 4422 5.: empty differs from absent) */
	uint8_t reserved[2];
	/* START on TLS: RFC 9266 tls-exporter data, for the -PLUS
	 * mechanisms and to detect a downgrade ("y" flag, RFC 5802 6.) */
	uint32_t cb_exporter_len;
	unsigned char cb_exporter[AUTH_CB_MAX];
	/* START on TLS: a second binding, RFC 5929 tls-server-end-point
	 * (the hash of our certificate), for -PLUS clients that ask for it
	 * (run by scram_server.c; gsasl 2.2 does not know it) */
	uint32_t cb2_type;    /* enum auth_cb_type */
	uint32_t cb2_len;
	unsigned char cb2[AUTH_CB_MAX];
	uint32_t data_len;    /* octets of data[] sent; wiped after use */
	unsigned char data[AUTH_SASL_DATA_MAX];
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_FAILED = 1,          /* unknown user or wrong password: same reply */
	AUTH_LOGIN_DELAY = 2,     /* correct password, too soon: [LOGIN-DELAY] */
	AUTH_TOO_MANY = 3,        /* max_sessions_per_user reached: [IN-USE] */
	AUTH_TEMPFAIL = 4,        /* passwd-file unreadable etc.: [SYS/TEMP] */
	AUTH_PERMFAIL = 5,        /* bad user record (uid, mail): [SYS/PERM] */
	AUTH_CONTINUE = 6,        /* SASL: data holds the next challenge */
	AUTH_HELLO = 7,           /* unsolicited, id 0, sent when a worker
				     connects: data is a uint32_t mask of the
				     sasl_mech indexes whose files (keytab,
				     key) this process can read */
};

enum auth_agent {
	AUTH_AGENT_NONE = 0,      /* none needed: the worker's own store */
	AUTH_AGENT_ATTACHED = 1,  /* its socket is attached */
	AUTH_AGENT_FAILED = 2,    /* needed, could not be started */
};

struct auth_reply {
	uint64_t id;          /* chosen by the worker, never reused */
	uint32_t result;          /* enum auth_result */
	char user[AUTH_USER_MAX]; /* canonical user name */
	uint32_t mail_kind;       /* enum maildrop_kind (store/maildrop.h) */
	char mail_path[AUTH_PATH_MAX]; /* expanded maildrop path */
	int64_t uid, gid;         /* from the passwd-file, -1 when unset */
	int32_t expire_days;      /* per user; -1 = the global setting */
	int32_t login_delay;      /* per user; -1 = the global setting */
	int64_t quota_bytes;      /* per user; -1 = the global setting */
	int64_t quota_messages;   /* per user; -1 = the global setting */
	int32_t workarounds;      /* store/msgconv.h bits; -1 = the global
				     client_workarounds */
	/* proxy mode: the user's own backend "host:port", "" = by hash */
	char proxy_host[AUTH_PROXY_HOST_MAX];
	/* proxy mode with proxy_ticket_key: what the backend login sends
	 * as the password (proxyticket.h), "" = the client's own */
	char proxy_ticket[AUTH_TICKET_MAX];
	/* AUTH_OK of a login that needs a mail agent (enum auth_agent):
	 * ATTACHED comes with the agent's socket (SCM_RIGHTS, see
	 * store/agent_proto.h); the worker believes only the descriptor */
	int32_t agent;
	uint32_t data_len;        /* AUTH_CONTINUE: octets of data[] sent */
	unsigned char data[AUTH_SASL_OUT_MAX];
};

/* The length of the fixed part of the variable-length messages. */
#define AUTH_SASL_REQUEST_HDR offsetof(struct auth_sasl_request, data)
#define AUTH_REPLY_HDR offsetof(struct auth_reply, data)

/* What a received message is (auth_proto_check_request). */
enum auth_msg {
	AUTH_MSG_BAD,      /* wrong length for its type: drop it */
	AUTH_MSG_REQUEST,  /* a struct auth_request (PASS, APOP, LOGOUT, or
			      an unknown type the receiver refuses) */
	AUTH_MSG_SASL,     /* a struct auth_sasl_request */
};

/* The auth process's check of n octets from a worker (n is the real
 * length, MSG_TRUNC; msg holds min(n, sizeof(struct auth_sasl_request))
 * octets and is suitably aligned). On REQUEST and SASL every string field
 * of the message is NUL-terminated inside its field. */
enum auth_msg auth_proto_check_request(void *msg, size_t n);
/* The worker's check of n octets from the auth process (the real length):
 * the header plus exactly data_len octets, data_len at most
 * AUTH_SASL_OUT_MAX. When true, user and mail_path are NUL-terminated. */
bool auth_proto_check_reply(struct auth_reply *reply, size_t n);

#endif
