/* metrics.h: the server's counters for the metrics endpoint, in one
 * MAP_SHARED mapping the master makes before it forks (as connlimit.h's).
 * Each worker slot has its own row, written only by the worker in that
 * slot from its loop thread, read by the master (metrics_text.c), which
 * never writes a row. Counters only grow: a restarted worker keeps its
 * slot's counts (a Prometheus counter must not go down while the server
 * runs); its gauges (sessions open, auth requests waiting) are cleared,
 * since the process that held them is gone. Every function takes a
 * NULL metrics (satchel serve --stdio keeps none) and does nothing. */
#ifndef SATCHEL_METRICS_H
#define SATCHEL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Login mechanisms counted: USER/PASS, APOP, then every SASL mechanism
 * by its sasl_mech index (auth/sasl_mech.h) from METRICS_MECH_SASL. */
#define METRICS_MECH_USER 0
#define METRICS_MECH_APOP 1
#define METRICS_MECH_SASL 2
#define METRICS_MECHS_MAX 24

/* Login results: the auth process's final answers (enum auth_result). */
enum metrics_login_result {
	METRICS_LOGIN_OK,
	METRICS_LOGIN_FAILED,      /* wrong password or unknown user */
	METRICS_LOGIN_DELAY,       /* LOGIN-DELAY */
	METRICS_LOGIN_TOO_MANY,    /* max_sessions_per_user */
	METRICS_LOGIN_TEMPFAIL,
	METRICS_LOGIN_PERMFAIL,
	METRICS_LOGIN_RESULTS
};

/* Why a connection was refused before it had a session. */
enum metrics_refusal {
	METRICS_REFUSED_MAX_CONNECTIONS,
	METRICS_REFUSED_PER_IP,
	METRICS_REFUSED_PROXY,     /* a PROXY header missing or untrusted */
	METRICS_REFUSED_SETUP,     /* out of memory for the session */
	METRICS_REFUSALS
};

enum metrics_counter {
	METRICS_SESSIONS,          /* sessions started */
	METRICS_BYTES_SENT,        /* octets of replies written (before TLS) */
	METRICS_RETRIEVALS,        /* RETR of a whole message */
	METRICS_DELETIONS,         /* messages removed at UPDATE */
	METRICS_COUNTERS
};

enum metrics_gauge {
	METRICS_SESSIONS_OPEN,     /* sessions of this worker now */
	METRICS_AUTH_PENDING,      /* requests sent to auth, not answered */
	METRICS_GAUGES
};

/* Upper bounds (microseconds) of the maildrop open latency histogram;
 * one more bucket counts everything above the last. */
#define METRICS_OPEN_BUCKETS 12
extern const uint64_t metrics_open_bounds_us[METRICS_OPEN_BUCKETS];

struct metrics_row {
	uint64_t counter[METRICS_COUNTERS];
	int64_t gauge[METRICS_GAUGES];
	uint64_t login[METRICS_MECHS_MAX][METRICS_LOGIN_RESULTS];
	uint64_t refused[METRICS_REFUSALS];
	uint64_t open_bucket[METRICS_OPEN_BUCKETS + 1];
	uint64_t open_sum_us, open_count;
};

struct metrics;

/* NULL on failure (errno set). rows = worker slots. */
struct metrics *metrics_create(unsigned rows);
unsigned metrics_rows(const struct metrics *m);
/* A new process takes row: its gauges start at 0. */
void metrics_reset_gauges(struct metrics *m, unsigned row);

void metrics_count(struct metrics *m, unsigned row, enum metrics_counter c,
		   uint64_t n);
void metrics_gauge_add(struct metrics *m, unsigned row, enum metrics_gauge g,
		       int64_t delta);
void metrics_gauge_set(struct metrics *m, unsigned row, enum metrics_gauge g,
		       int64_t value);
/* mech: METRICS_MECH_*; out of range is not counted. */
void metrics_login(struct metrics *m, unsigned row, unsigned mech,
		   enum metrics_login_result result);
void metrics_refused(struct metrics *m, unsigned row, enum metrics_refusal r);
void metrics_open_latency(struct metrics *m, unsigned row, uint64_t usec);

/* A copy of one row (a consistent enough view: each field is read
 * atomically, fields may be a moment apart). */
void metrics_read_row(const struct metrics *m, unsigned row,
		      struct metrics_row *out);
/* The sum of every row. */
void metrics_read_total(const struct metrics *m, struct metrics_row *out);

#endif
