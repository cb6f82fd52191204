/* hashpool.h: password verification on a few threads, so the auth process
 * uses every core for the one thing that costs (a crypt_r takes about a
 * millisecond for SHA-512-crypt, fifteen for yescrypt) while its state
 * (users, sessions, replies) stays in its single main thread.
 *
 * The main thread submits jobs and learns of finished ones through an
 * eventfd it polls; it takes them back with hashpool_take(). A job is
 * owned by the pool from submit to take; the pool wipes its secrets. */
#ifndef SATCHEL_HASHPOOL_H
#define SATCHEL_HASHPOOL_H

#include <stdbool.h>
#include <stdint.h>

#define HASHPOOL_STORED_MAX 512
#define HASHPOOL_PASSWORD_MAX 512

struct hashjob {
	struct hashjob *next;
	uint32_t slot;                 /* the caller's; returned untouched */
	uint64_t id;
	bool dummy;                    /* unknown user: cost only, no match */
	bool matched;                  /* the result */
	char stored[HASHPOOL_STORED_MAX];
	char password[HASHPOOL_PASSWORD_MAX];
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

/* Jobs submitted and not yet taken. */
unsigned hashpool_in_flight(const struct hashpool *pool);

#endif
