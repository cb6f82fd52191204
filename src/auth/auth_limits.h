/* auth_limits.h: the fixed limits of the auth process, each with its
 * reason. The sizes of the worker<->auth messages are part of the
 * protocol and live in auth_proto.h. */
#ifndef SATCHEL_AUTH_LIMITS_H
#define SATCHEL_AUTH_LIMITS_H

/* Worker sockets one auth process serves: two generations of the most
 * workers, with room to spare. */
#define AUTH_SLOTS_MAX 256
/* SASL exchanges in progress at once, over all workers: each holds a
 * little state until it ends or its worker says the client left. */
#define SASL_EXCHANGES_MAX 4096

/* The passwd-file: the longest line, user name, whole file (bounds the
 * memory a load takes) and secret= fields per user. */
#define PASSWD_LINE_MAX 4096           /* octets, without the newline */
#define PASSWD_USER_MAX 255            /* octets */
#define PASSWD_FILE_MAX (64u << 20)
#define PASSWD_SECRETS_MAX 4

/* SCRAM iteration counts: RFC 7677 section 4 asks for at least 4096; a
 * stored secret with more than the maximum is refused, which bounds the
 * work one login can cost. */
#define SCRAM_ITER_DEFAULT 4096
#define SCRAM_ITER_MAX 10000000u

/* OAuth bearer tokens: the clock skew allowed between the issuer and us
 * (seconds), and the longest token (sasl_max_line bounds it first). */
#define JWT_LEEWAY 60
#define JWT_TOKEN_MAX 49152

/* After a failed write of the last-login state, wait this long before
 * trying again, so a full disk does not fill the log once a second. */
#define AUTH_STATE_RETRY_SECS 60

#endif
