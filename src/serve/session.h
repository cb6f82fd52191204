/* session.h: one POP3 client connection inside a worker.
 *
 * The session owns its socket, buffers, maildrop and timers and frees them
 * in session_destroy(). Input is read into a bounded line reader; each
 * complete line is dispatched through the command table (commands.c);
 * replies go to the output buffer and are written in large writes. Long
 * replies (LIST, UIDL, RETR, TOP) are produced as the output drains. */
#ifndef SATCHEL_SESSION_H
#define SATCHEL_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/auth_proto.h"
#include "net/conn.h"
#include "net/linereader.h"
#include "net/outbuf.h"
#include "store/maildrop.h"
#include "store/msgconv.h"

struct worker;
struct io;
struct timer;
struct store_job;
struct xmit;
struct xmit_job;
struct utf8wrap;
struct session_proxy;
struct session_kpop;

/* Bit values so the command table can name several states at once. */
enum session_state {
	STATE_AUTHORIZATION = 0x1,
	STATE_TRANSACTION = 0x2,
};

enum long_kind { LONG_NONE, LONG_LIST, LONG_UIDL, LONG_MESSAGE };

struct long_reply {
	enum long_kind kind;
	unsigned next;                    /* LIST/UIDL: next index */
	unsigned msg_index;               /* RETR/TOP: the message */
	struct maildrop_reader *reader;
	struct utf8wrap *wrap;            /* RETR/TOP of a surrogate */
	struct msgconv conv;
};

struct session {
	struct worker *worker;
	int fd;
	uint64_t serial;
	struct io *io;
	struct timer *timer;       /* idle timeout, lock refresh */
	struct timer *delay_timer; /* failed-login delay */
	uint64_t started_ms, last_activity_ms, handshake_started_ms;
	char addr[64];             /* client address, printable */
	/* the client and our end as sockaddrs (proxy mode's PROXY v2
	 * header); family 0 when unknown (--stdio) */
	struct sockaddr_storage peer_ss, local_ss;
	/* the session id in every log line of it, the worker's and the
	 * auth process's: 16 hex digits, random */
	char id[20];
	char log_client[AUTH_ADDR_MAX]; /* "ADDR session=ID": rip= in logs */
	bool loopback;
	bool secured;              /* TLS is up */
	unsigned proxy_hops;       /* satchel proxies passed (PROXY TLV) */
	bool via_proxy;            /* came with a PROXY header from
				      proxy_trusted: may log in with a
				      proxy ticket (auth/proxyticket.h) */
	struct conn conn;          /* the stream, plain or TLS */
	bool stls_pending;         /* STLS accepted: handshake once flushed */
	bool greeted;              /* the greeting was queued */

	enum session_state state;
	bool waiting;              /* auth, delay or store job pending */
	bool closing;              /* close once the output is written */
	bool peer_closed;
	bool io_failed;            /* read error/reset: end even if waiting */
	bool close_timer_armed;    /* closing: the grace timer runs */
	bool counted;              /* holds a session slot in the auth process */
	bool sasl_active;          /* an AUTH exchange runs (cmd_auth.c) */
	bool sasl_prep;            /* its PLAIN/LOGIN data is SASLprep'd */
	bool auth_pending;         /* a request to auth is unanswered */
	uint8_t login_mech;        /* METRICS_MECH_* of the login attempt */
	unsigned bad_lines;

	struct linereader in;
	struct outbuf out;
	struct long_reply reply;

	char user[AUTH_USER_MAX];
	bool have_user;
	char timestamp[128];        /* APOP: <pid.clock.random@host> */
	const char *delayed_reply; /* sent when delay_timer fires (static) */

	struct maildrop *drop;     /* NULL while a store job owns it */
	struct store_job *store_job; /* running open or commit, or NULL */
	/* the mail agent's socket that came with a granted login (auth
	 * reply AUTH_AGENT_ATTACHED), until session_login hands it to the
	 * maildrop open; -1 none */
	int agent_fd;
	int expire_days;           /* -1 never */
	unsigned login_delay;

	/* persistent LAST (last_command): the highest message number
	 * retrieved in an earlier session (RSET goes back to it), and the
	 * highest so far including this one */
	unsigned last_base, last_now;

	/* client workarounds of this user (store/msgconv.h bits) and, with
	 * MSGCONV_ADD_EOH, which messages lack the blank line after the
	 * header (RETR adds it: their sizes are 2 more), else NULL */
	unsigned workarounds;
	bool workarounds_here;     /* client_workarounds_listen has ours */
	bool *no_eoh;
	/* RFC 6856: UTF8 was accepted; the LANG catalogue (enum lang_tag);
	 * with utf8_legacy = reject and no UTF8, which messages need UTF-8
	 * mode (their RETR and TOP get -ERR [UTF8]), else NULL */
	bool utf8;
	unsigned lang;
	bool *needs_utf8;
	/* utf8_legacy = wrap and no UTF8: the surrogate's size of each
	 * message that needs UTF-8 mode (store/utf8wrap.h), 0 for the
	 * others; else NULL */
	uint64_t *wrap_size;

	/* XTND XMIT (cmd_xtnd.c): a message being received, a relay job
	 * running; NULL otherwise */
	struct xmit *xmit;
	struct xmit_job *xmit_job;
	/* proxy mode: the password of the PASS being checked, for the
	 * backend login (AUTH_SECRET_MAX octets, allocated only then: an
	 * idle session holds none); wiped and freed when the auth process
	 * has answered */
	char *proxy_secret;
	struct session_proxy *proxy; /* the backend link, or NULL */
	struct session_kpop *kpop;   /* a kpop_listen connection, or NULL */

	unsigned retr_count, dele_count;
	/* the logout line's uidls= (session_uidl_hash), "" until taken */
	char uidl_hash[17];
	uint64_t retr_bytes;
	const char *end_reason;
};

/* Creates a session for an accepted socket (with implicit_tls, the
 * handshake is set up). NULL on failure (the caller closes fd). The caller
 * registers it, then calls session_start(). */
struct session *session_create(struct worker *worker, int fd,
			       const char *addr, bool loopback,
			       bool implicit_tls);
/* Sends the greeting (or waits for the TLS handshake). May destroy s. */
void session_start(struct session *s);
/* Ends the session without UPDATE, logs it, frees everything. */
void session_destroy(struct session **sessionp);

/* Queues a one-line reply ("+OK ..." / "-ERR ...") with CRLF. */
void session_reply(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Queues a line of a multi-line reply, byte-stuffed. */
void session_reply_line(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Continues after an asynchronous step (auth reply, delay) finished:
 * processes buffered pipelined commands and flushes. May destroy s. */
void session_resume(struct session *s);
/* Says why and closes after flushing (limits, shutdown). */
void session_close_with(struct session *s, const char *reply,
			const char *reason);

/* The auth process answered this session's request. May destroy s. */
void session_auth_reply(struct session *s, const struct auth_reply *reply);
/* Acts on a final login result (AUTH_OK: log in and open the maildrop;
 * failures: the reply with its RFC 3206 code, after the failed-login
 * delay). Shared by PASS, APOP and AUTH. May destroy s. */
void session_auth_result(struct session *s, const struct auth_reply *reply);
/* Queues the greeting (after TLS or KPOP's handshake). */
void session_greet(struct session *s);

/* Starts a long reply; the session fills it as output drains. */
void session_start_long(struct session *s, enum long_kind kind,
			unsigned msg_index, int64_t top_lines);

/* Accepts STLS: the "+OK" is flushed in clear, then the handshake runs
 * and every byte received before it is thrown away (RFC 2595 4.). */
void session_start_tls(struct session *s);

/* What RETR sends of message idx in this session (before stuffing,
 * without the terminator): the store's size and what a workaround adds.
 * STAT, LIST and the "+OK n octets" of RETR all use it. */
uint64_t session_msg_size(const struct session *s, unsigned idx);

/* Proxy mode: keeps len octets of secret (NUL added) for the backend
 * login. 0, or -1 when too long or out of memory (nothing kept). */
int session_keep_secret(struct session *s, const char *secret, size_t len);
/* Wipes and frees the kept secret, if any. */
void session_wipe_secret(struct session *s);

/* True when plaintext passwords may be sent on this connection now. */
bool session_plaintext_allowed(const struct session *s);

/* --- between the session's files --- */

/* (Re)arms the session timer: the running limit and the lock refresh. */
void session_arm_timer(struct session *s);
/* Closes the session after a lost reply (allocation failure). */
void session_out_of_memory(struct session *s);

/* session_long.c: continues the long reply; true when it is finished
 * (or failed and the session is closing). */
bool session_continue_long(struct session *s);
void session_long_end(struct session *s);

/* session_store.c: the maildrop open and the UPDATE commit as jobs on
 * the worker's pool; the session waits (s->waiting) until the job's
 * result arrives through session_login_opened() / session_quit_done(),
 * on the loop thread. Both return 0, or -1 when out of memory (nothing
 * started, nothing changed). commit takes s->drop. */
int session_store_open(struct session *s, const struct maildrop_settings *set);
int session_store_commit(struct session *s);
/* The session ends: a running job finishes without it (an opened
 * maildrop is closed unchanged, a started commit completes). */
void session_store_detach(struct session *s);

/* session_login.c: the open finished (drop set when ret is MAILDROP_OK;
 * error otherwise). May destroy s. */
void session_login_opened(struct session *s, int ret, struct maildrop *drop,
			  const char *error);
/* proxy mode (session_proxy.c): the backend login ended; ok with its
 * +OK line, else the line to send (the backend's -ERR, or ours).
 * May destroy s. */
void session_login_proxied(struct session *s, bool ok, const char *reply);
/* Takes the hash of the snapshot's UIDL list for the logout line
 * (maildrop_uidl_hash), once, while the maildrop is open. */
void session_uidl_hash(struct session *s);
/* The commit finished: replies to QUIT and closes. May destroy s. */
void session_quit_done(struct session *s, int ret, unsigned deleted,
		       const char *error);

#endif
