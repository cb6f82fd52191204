/* hashpool.h: password verification on a few threads, so the auth process
 * uses every core for the one thing that costs (a crypt_r takes about a
 * millisecond for SHA-512-crypt, fifteen for yescrypt; a SCRAM key
 * derivation a few) while its state (users, sessions, replies, SASL
 * exchanges) stays in its single main thread. Every mechanism that checks
 * a password or derives keys from one comes here (auth_verify.c).
 *
 * The main thread submits jobs and learns of finished ones through an
 * eventfd it polls; it takes them back with hashpool_take(). A job is
 * owned by the pool from submit to take; the pool wipes its secrets. */
#ifndef SATCHEL_HASHPOOL_H
#define SATCHEL_HASHPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/scram.h"

#define HASHPOOL_STORED_MAX 512
#define HASHPOOL_PASSWORD_MAX 512

enum hashjob_kind {
	/* password against stored ("{SCHEME}..."): matched */
	HASHJOB_VERIFY,
	/* SCRAM StoredKey and ServerKey of password with scram.hash,
	 * scram.salt and scram.iter (RFC 5802 3.): into scram, or failed */
	HASHJOB_SCRAM_KEYS,
};

struct hashjob {
	struct hashjob *next;
	enum hashjob_kind kind;
	uint32_t slot;                 /* the caller's; returned untouched */
	uint64_t id;
	bool dummy;                    /* unknown user: cost only, no match */
	bool matched;                  /* the result of HASHJOB_VERIFY */
	bool unavailable;              /* ... could not be had ({LDAP-BIND}
					  with the directory down) */
	bool failed;                   /* HASHJOB_SCRAM_KEYS: crypto error */
	char stored[HASHPOOL_STORED_MAX];
	char password[HASHPOOL_PASSWORD_MAX]; /* wiped once used */
	struct scram_secret scram;     /* HASHJOB_SCRAM_KEYS in and out */
	void *context;                 /* the caller's */
};

struct hashpool;

/* Starts threads (at least 1). NULL on failure (errno set). */
struct hashpool *hashpool_create(unsigned threads);
/* Stops the threads and frees queued and finished jobs. NULL-safe. */
void hashpool_destroy(struct hashpool **poolp);

/* The eventfd that becomes readable when jobs finish. */
int hashpool_fd(const struct hashpool *pool);

/* Queues a job allocated with hashpool_job_new(). */
void hashpool_submit(struct hashpool *pool, struct hashjob *job);
/* A finished job, or NULL when none is ready. Reads the eventfd. */
struct hashjob *hashpool_take(struct hashpool *pool);

/* A zeroed job, NULL on out of memory; free with hashpool_job_free(),
 * which wipes it. */
struct hashjob *hashpool_job_new(void);
void hashpool_job_free(struct hashjob **jobp);

/* Runs job on the calling thread (the pool does this on its threads;
 * the caller does it when it has no pool). Wipes job->password. */
void hashpool_job_run(struct hashjob *job);

/* Jobs submitted and not yet taken. */
unsigned hashpool_in_flight(const struct hashpool *pool);

#endif
