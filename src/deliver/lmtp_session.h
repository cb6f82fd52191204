/* lmtp_session.h: one LMTP client connection (RFC 2033).
 *
 * The session owns its socket, buffers and transaction. Input is read
 * into one bounded buffer: in command mode lines are cut from it (512
 * octets with CRLF, RFC 5321 4.5.3.1.4) and dispatched through the
 * command table (lmtp_cmd.c), one at a time and in order (PIPELINING,
 * RFC 2920); in DATA mode its bytes go through the dot-unstuffer
 * (lmtp_dot.h) into the spool; in BDAT mode exactly the chunk's octets
 * go into the spool (RFC 3030). Replies are queued in the output buffer
 * and written in large writes.
 *
 * While a lookup, a quota check or the delivery (lmtp_txn.c) runs, the
 * session waits: it reads no command, so replies stay in order.
 *
 * A remote session (TCP whose local address is not loopback; the host
 * says so) is served as issue 8 says: LHLO offers STARTTLS (RFC 3207)
 * when the host has a TLS context, AUTH PLAIN (RFC 4954) once TLS is
 * on, and MAIL needs a successful AUTH unless lmtp_allow_insecure_remote
 * (lmtp_auth.c). Loopback and unix-socket sessions offer neither. */
#ifndef SATCHEL_LMTP_SESSION_H
#define SATCHEL_LMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth_proto.h"
#include "deliver/lmtp_dot.h"
#include "deliver/lmtp_parse.h"
#include "net/conn.h"
#include "net/outbuf.h"
#include "store/delivery.h"

struct lmtp_server;
struct lmtp_txn;
struct lmtp_quota_job;
struct lmtp_spool_job;
struct io;
struct timer;

/* Bits, so the command table can name several states at once. */
enum lmtp_state {
	LMTP_STATE_INIT = 0x1,    /* before LHLO */
	LMTP_STATE_READY = 0x2,   /* LHLO done, no transaction */
	LMTP_STATE_MAIL = 0x4,    /* MAIL accepted, no recipient yet */
	LMTP_STATE_RCPT = 0x8,    /* one or more recipients accepted */
	LMTP_STATE_BDAT = 0x10,   /* BDAT chunks taken, LAST not yet */
};

enum lmtp_input { LMTP_INPUT_COMMAND, LMTP_INPUT_DATA, LMTP_INPUT_CHUNK };

/* An accepted recipient: the address and where its mail goes. */
struct lmtp_rcpt {
	char address[LMTP_PATH_MAX];
	char orcpt[LMTP_ORCPT_MAX + 1];
	char user[AUTH_USER_MAX];
	enum maildrop_kind kind;
	char path[AUTH_PATH_MAX];
	uint64_t quota_bytes, quota_messages;  /* 0 = no limit */
};

struct lmtp_session {
	struct lmtp_server *srv;
	int fd;
	uint64_t serial;
	struct io *io;
	struct timer *timer;
	struct conn conn;
	char addr[64];              /* client address, printable */
	uint64_t last_activity_ms;

	/* lmtp_auth.c: non-loopback TCP only */
	bool remote;                /* set by the host before start */
	bool stls_pending;          /* 220 to STARTTLS queued: handshake
				       once it is written */
	bool auth_continue;         /* 334 sent: the next line answers */
	bool auth_pending;          /* the host checks a password */
	unsigned auth_failures;
	char auth_user[AUTH_USER_MAX]; /* canonical, "" = none */

	unsigned state;             /* enum lmtp_state */
	enum lmtp_input input;
	bool waiting;               /* lookup, quota job or delivery */
	bool lookup_pending;        /* a host lookup is out */
	uint64_t lookup_id;         /* the host's id of it (worker) */
	struct timer *rcpt_timer;   /* lookup + quota check time limit */
	bool closing;               /* close once the output is written */
	bool peer_closed;
	bool io_failed;
	bool close_timer_armed;
	bool discarding;            /* inside the tail of an over-long line */
	unsigned bad_lines;

	char *in;                   /* LMTP_INPUT_BUF octets */
	size_t in_start, in_len;
	struct outbuf out;

	/* the transaction */
	struct lmtp_mail mail;
	struct lmtp_rcpt *rcpts;    /* accepted, in RCPT order */
	unsigned nrcpts, cap_rcpts;
	struct lmtp_rcpt pending;   /* the RCPT being looked up */
	struct lmtp_quota_job *quota_job;

	/* the message being received */
	struct lmtp_dot dot;
	struct delivery_spool *spool;
	char *wbuf;                 /* LMTP_SPOOL_CHUNK: not yet written;
				       NULL while a write job has it */
	size_t wlen;
	struct lmtp_spool_job *spool_job;
	uint64_t data_size;
	uint64_t chunk_left;        /* BDAT: octets of this chunk to come */
	bool chunk_last;
	const char *chunk_reply;    /* BDAT refused: said once it is read */
	const char *data_error;     /* the reply for every recipient */
	uint64_t data_started_ms;

	struct lmtp_txn *txn;       /* the delivery running, or NULL */
	unsigned messages;
	const char *end_reason;
};

/* A session for an accepted socket (or fd 0; the host sets the conn's
 * out fd). NULL on failure (the caller closes fd). Counted in the
 * server at once; lmtp_session_start() sends the greeting. */
struct lmtp_session *lmtp_session_create(struct lmtp_server *srv, int fd,
					 const char *addr);
/* Sends the greeting. May destroy s. */
void lmtp_session_start(struct lmtp_session *s);
/* Ends the session (a delivery running goes on without it). */
void lmtp_session_destroy(struct lmtp_session **sp);

/* Queues one reply line (CRLF added). */
void lmtp_session_reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Says reply (a 421 line) and closes after flushing. May destroy s. */
void lmtp_session_close_with(struct lmtp_session *s, const char *reply,
			     const char *reason);
/* Continues after a wait ended: buffered commands, flush. May destroy
 * s. */
void lmtp_session_resume(struct lmtp_session *s);

/* Writes the replies queued while s waits (a delivery's recipients, one
 * by one). May destroy s (a write error). */
void lmtp_session_flush_replies(struct lmtp_session *s);

/* The host's answer to lookup (auth_reply result and user record); s
 * was waiting for it. May destroy s. */
void lmtp_session_lookup_done(struct lmtp_session *s,
			      const struct auth_reply *reply);

/* --- between the session's files --- */

/* Drops the transaction: recipients, spool (RSET, after delivery). */
void lmtp_session_reset(struct lmtp_session *s);
/* The DATA / BDAT LAST end: starts the delivery or answers every
 * recipient with the data error. */
void lmtp_session_data_end(struct lmtp_session *s);
/* The delivery finished its last reply (lmtp_txn.c). */
void lmtp_session_txn_done(struct lmtp_session *s);

/* lmtp_cmd.c: dispatches one command line. */
enum lmtp_cmd_outcome {
	LMTP_CMD_DONE,   /* a reply was queued (or data mode entered) */
	LMTP_CMD_WAIT,   /* s->waiting: the reply comes later */
	LMTP_CMD_BAD,    /* a reply was queued; counts as a bad command */
	LMTP_CMD_CLOSE,  /* a reply was queued; close after it */
};
enum lmtp_cmd_outcome lmtp_cmd_dispatch(struct lmtp_session *s, char *line);
/* Bounds the wait of an RCPT (lookup, quota check) to
 * lmtp_recipient_timeout: then 451 4.2.0 for that recipient alone. */
void lmtp_session_rcpt_timer(struct lmtp_session *s);
/* The reply to RCPT once the user is known (quota checked). */
void lmtp_cmd_rcpt_accept(struct lmtp_session *s);

/* lmtp_auth.c: STARTTLS and AUTH on remote sessions. */
/* The LHLO lines they add (RFC 3207 4.2: no STARTTLS once TLS is on). */
void lmtp_auth_lhlo(struct lmtp_session *s);
/* True when MAIL must be refused with 530 5.7.0 (RFC 4954 6.). */
bool lmtp_auth_required(const struct lmtp_session *s);
enum lmtp_cmd_outcome lmtp_auth_cmd_starttls(struct lmtp_session *s,
					     struct lmtp_args *args);
enum lmtp_cmd_outcome lmtp_auth_cmd_auth(struct lmtp_session *s,
					 struct lmtp_args *args);
/* The line after "334 " (s->auth_continue). */
enum lmtp_cmd_outcome lmtp_auth_response(struct lmtp_session *s,
					 const char *line);
/* The host's answer to authenticate (auth_reply result and user). May
 * destroy s. */
void lmtp_session_auth_done(struct lmtp_session *s,
			    const struct auth_reply *reply);
/* The TLS handshake after STARTTLS finished: the session is reset to
 * the state after the greeting (RFC 3207 4.2). */
void lmtp_auth_tls_done(struct lmtp_session *s);

/* lmtp_spool.c: the received bytes go to the spool in jobs. */
/* Creates the spool and the chunk buffer (DATA, first BDAT). 0 or -1
 * (logged). */
int lmtp_spool_begin(struct lmtp_session *s);
/* Room left in the chunk buffer. */
size_t lmtp_spool_room(const struct lmtp_session *s);
/* Starts the write of the chunk buffer when it is nearly full (force:
 * when it holds anything); s waits until it is done. Errors become
 * s->data_error. */
void lmtp_spool_flush(struct lmtp_session *s, bool force);
/* Drops the spool and the buffer (RSET, end); a running write job
 * keeps the spool and frees it when done. */
void lmtp_spool_end(struct lmtp_session *s);

/* lmtp_quota.c: the RCPT-time quota check as a job (maildirsize is a
 * file). 0, or -1 when out of memory. The reply comes from the job's
 * done; a session that leaves detaches. */
int lmtp_quota_check(struct lmtp_session *s);
void lmtp_quota_detach(struct lmtp_session *s);

#endif
