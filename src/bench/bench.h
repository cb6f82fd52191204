/* bench.h: `satchel bench`, a load generator for any POP3 server, and
 * with --lmtp for any LMTP server (RFC 2033).
 *
 * One process, one epoll loop (net/ioloop.h), C non-blocking connections,
 * each running sessions of one scenario back to back and checking every
 * reply: multi-line framing, dot-unstuffing, RETR octets against LIST
 * sizes, LIST/UIDL line counts against STAT; for LMTP, every reply code
 * and one reply per recipient after the data. Every run is bounded in
 * time.
 */
#ifndef SATCHEL_BENCH_H
#define SATCHEL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/conn.h"
#include "net/ioloop.h"

/* argv[0] is "bench". Returns a sysexits code: EX_OK when every session
 * succeeded, EX_SOFTWARE when some failed, EX_USAGE on bad options. */
int bench_main(int argc, char **argv);

enum bench_scenario {
	SCENARIO_LOGIN,  /* greeting, USER/PASS, STAT, QUIT */
	SCENARIO_FETCH,  /* STAT, LIST, UIDL, RETR each message, QUIT */
	SCENARIO_TOP,    /* STAT, TOP n 0 for each message, QUIT */
	SCENARIO_LIST,   /* STAT, LIST, UIDL, QUIT */
	SCENARIO_IDLE,   /* log in, STAT, hold with a NOOP now and then */
	SCENARIO_LMTP,   /* LHLO, then MAIL, RCPT xN, DATA per message */
};

/* LMTP: recipients per message at most (a bound on the envelope buffer;
 * Postfix sends 50 by default), and the size of the message sent. */
#define BENCH_RCPTS_MAX 100
#define BENCH_LMTP_MESSAGE 4096

enum bench_tls { BENCH_TLS_NONE, BENCH_TLS_IMPLICIT, BENCH_TLS_STARTTLS };

/* Each kind of failure is counted apart; a failed session is closed and
 * its slot starts a new one. */
enum bench_error {
	BERR_CONNECT,    /* connect() refused or failed */
	BERR_TLS,        /* TLS handshake or record error */
	BERR_GREETING,   /* no +OK greeting */
	BERR_AUTH,       /* -ERR to USER or PASS */
	BERR_IN_USE,     /* -ERR [IN-USE] (maildrop locked) */
	BERR_ERR_REPLY,  /* any other -ERR */
	BERR_PROTOCOL,   /* a status line that is neither +OK nor -ERR,
			    or a reply that cannot be parsed */
	BERR_FRAMING,    /* a line not ending in CRLF, or too long */
	BERR_STUFFING,   /* a line starting with '.' that is not ".." */
	BERR_SIZE,       /* RETR octets differ from the LIST size */
	BERR_COUNT,      /* LIST/UIDL lines differ from the STAT count */
	BERR_UIDL,       /* a UIDL that is not 1-70 chars of 0x21-0x7E, or
			    repeated */
	BERR_CLOSED,     /* the server closed or reset mid-session */
	BERR_TIMEOUT,    /* no progress within the step timeout */
	BERR_UNFINISHED, /* cut off at the end of the run */
	BERR_COUNT_KINDS
};

extern const char *const bench_error_names[BERR_COUNT_KINDS];

struct bench_options {
	const char *host, *port, *user_fmt, *password, *cafile, *sni;
	unsigned users, user_base, concurrency;
	unsigned rcpts;            /* LMTP: recipients per message */
	uint64_t sessions;         /* 0: run for `seconds`; LMTP: messages */
	double seconds;            /* 0: run for `sessions` */
	double step_timeout;       /* seconds without progress */
	double noop_interval;      /* idle scenario */
	double max_time;           /* hard bound of the whole run */
	enum bench_scenario scenario;
	enum bench_tls tls;
	bool json, quiet;
};

/* Latency samples in microseconds; grows by doubling up to a cap. */
struct bench_samples {
	uint32_t *v;
	size_t len, cap;
};

struct bench_stats {
	uint64_t sessions_ok, sessions_failed, logins;
	uint64_t message_octets;   /* un-stuffed RETR/TOP body octets */
	uint64_t messages, noops;
	uint64_t errors[BERR_COUNT_KINDS];
	/* LMTP: session_us holds one sample per message, from its final
	 * dot to its last per-recipient reply; deliveries counts the 2xx
	 * per-recipient replies, user_deliveries those of each user. */
	struct bench_samples session_us, login_us;
	uint64_t deliveries;
	uint64_t *user_deliveries;
};

struct bench;
struct bench_client;
struct bench_lmtp;
struct tls_ctx;

/* The socket side of one connection (bench_conn.c). out is the client's
 * buffer; out_off..out_len is what is still to be written. */
struct bench_conn {
	struct conn conn;
	struct io *io;
	unsigned events;
	char *out;
	size_t out_off, out_len;
	uint64_t progress_us;      /* the last connect, handshake step, read */
};

/* --- bench.c, for the clients --- */
const struct bench_options *bench_options(const struct bench *b);
struct bench_stats *bench_stats(struct bench *b);
struct ioloop *bench_loop(struct bench *b);
struct tls_ctx *bench_tls_ctx(struct bench *b);
const struct sockaddr *bench_addr(const struct bench *b, socklen_t *len_r);
uint64_t bench_now_us(void);
/* When the run started (bench_now_us()): part of unique Message-IDs. */
uint64_t bench_start_us(const struct bench *b);
/* The name of user number index (0-based): USERFMT with its %d. */
void bench_user_name(const struct bench *b, unsigned index, char *buf,
		     size_t size);
/* Called by a client when its session ended (ok or not) and its user is
 * free again; the bench decides whether the slot starts another. */
void bench_session_done(struct bench *b, struct bench_client *c, bool ok);
/* Called once by an idle-scenario client when it is logged in. */
void bench_idle_ready(struct bench *b);
/* LMTP: may a connection send one more message? true counts it as
 * started (-n bounds messages, -t the time to start them). */
bool bench_lmtp_next_message(struct bench *b);
/* LMTP: the connection of slot ended (after QUIT when ok). */
void bench_lmtp_done(struct bench *b, unsigned slot, bool ok);

/* Counts one failed session of this kind. */
void bench_count_failure(struct bench *b, enum bench_error kind);

/* --- bench_conn.c --- */
void bench_conn_init(struct bench_conn *bc, char *out);
/* A non-blocking connect to the bench's address, cb called on its
 * events. -1 when it cannot start (the caller counts BERR_CONNECT). */
int bench_conn_open(struct bench_conn *bc, struct bench *b, io_callback *cb,
		    void *context);
/* After a write event while connecting: 1 connected, 0 not yet, -1
 * failed (conn_connect_finish). */
int bench_conn_connected(struct bench_conn *bc);
void bench_conn_close(struct bench_conn *bc);
/* Writes what is queued until done or the socket is full: 0, or -1 when
 * the connection failed. */
int bench_conn_flush(struct bench_conn *bc);
bool bench_conn_flushed(const struct bench_conn *bc);
/* Reads up to room octets: their count, 0 when none are there yet, or
 * CONN_EOF / CONN_ERROR. A read counts as progress. */
ssize_t bench_conn_read(struct bench_conn *bc, char *buf, size_t room);
/* Read always; write while output is queued (or TLS wants it). */
void bench_conn_update_events(struct bench_conn *bc);
/* No progress for longer than the step timeout? */
bool bench_conn_stalled(const struct bench_conn *bc, const struct bench *b,
			uint64_t now_us);

/* --- samples (stats.c) --- */
void bench_samples_add(struct bench_samples *s, uint64_t us);
/* q in [0,1]; sorts the samples; 0 when empty. */
double bench_samples_quantile_ms(struct bench_samples *s, double q);
void bench_samples_free(struct bench_samples *s);

/* --- client.c --- */
struct bench_client *bench_client_create(struct bench *b, unsigned slot);
void bench_client_destroy(struct bench_client **cp);
/* Starts a session for user (a name the client copies). */
void bench_client_start(struct bench_client *c, const char *user,
			unsigned user_index);
unsigned bench_client_user_index(const struct bench_client *c);
bool bench_client_busy(const struct bench_client *c);
/* From the bench's periodic tick: step timeouts and idle NOOPs. */
void bench_client_tick(struct bench_client *c, uint64_t now_us);
/* Idle scenario: sends QUIT (ends the session normally). */
void bench_client_quit(struct bench_client *c);
/* Aborts a running session, counting it as BERR_UNFINISHED. */
void bench_client_abort(struct bench_client *c);

/* --- lmtp_client.c: the same life cycle for an LMTP connection; a
 * connection delivers to users group*rcpts .. group*rcpts+rcpts-1. --- */
struct bench_lmtp *bench_lmtp_create(struct bench *b, unsigned slot);
void bench_lmtp_destroy(struct bench_lmtp **cp);
void bench_lmtp_start(struct bench_lmtp *c, unsigned group);
unsigned bench_lmtp_group(const struct bench_lmtp *c);
bool bench_lmtp_busy(const struct bench_lmtp *c);
void bench_lmtp_tick(struct bench_lmtp *c, uint64_t now_us);
void bench_lmtp_abort(struct bench_lmtp *c);

#endif
