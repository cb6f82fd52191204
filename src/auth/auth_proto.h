/* auth_proto.h: the typed messages between a worker and the auth process.
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET socketpair per worker, so every
 * send() is one whole message. Each message is exactly one struct below;
 * the receiver rejects any other length and forces NUL termination of every
 * string field before use (it trusts nothing from the other side).
 * Requests carry an id chosen by the worker; the reply echoes it. Replies
 * may come back in any order. */
#ifndef SATCHEL_AUTH_PROTO_H
#define SATCHEL_AUTH_PROTO_H

#include <stdint.h>

#define AUTH_USER_MAX 256
#define AUTH_SECRET_MAX 256
#define AUTH_TIMESTAMP_MAX 256
#define AUTH_ADDR_MAX 64
#define AUTH_PATH_MAX 1024

enum auth_request_type {
	AUTH_REQ_PASS = 1,   /* USER + PASS: secret = password */
	AUTH_REQ_APOP = 2,   /* APOP: secret = 32 hex digits, timestamp set */
	AUTH_REQ_LOGOUT = 3, /* a session of user ended: frees its slot */
};

struct auth_request {
	uint32_t type;        /* enum auth_request_type */
	uint32_t id;
	char user[AUTH_USER_MAX];
	char secret[AUTH_SECRET_MAX];       /* wiped after use on both sides */
	char timestamp[AUTH_TIMESTAMP_MAX]; /* APOP greeting timestamp <...> */
	char client_addr[AUTH_ADDR_MAX];    /* for logs */
	uint8_t secured;                    /* connection is TLS or loopback */
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_FAILED = 1,          /* unknown user or wrong password: same reply */
	AUTH_LOGIN_DELAY = 2,     /* correct password, too soon: [LOGIN-DELAY] */
	AUTH_TOO_MANY = 3,        /* max_sessions_per_user reached: [IN-USE] */
	AUTH_TEMPFAIL = 4,        /* passwd-file unreadable etc.: [SYS/TEMP] */
	AUTH_PERMFAIL = 5,        /* bad user record (uid, mail): [SYS/PERM] */
};

struct auth_reply {
	uint32_t id;
	uint32_t result;          /* enum auth_result */
	char user[AUTH_USER_MAX]; /* canonical user name */
	uint32_t mail_kind;       /* enum mail_kind (config.h) */
	char mail_path[AUTH_PATH_MAX]; /* expanded maildrop path */
	int64_t uid, gid;         /* from the passwd-file, -1 when unset */
	int32_t expire_days;      /* per user; -1 = the global setting */
	int32_t login_delay;      /* per user; -1 = the global setting */
};

#endif
