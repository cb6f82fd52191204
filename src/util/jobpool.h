/* jobpool.h: a few threads for work that may block (file system scans,
 * fsyncs, lock waits), so the event loop that submits it never does.
 *
 * The owner (one thread, e.g. a worker's event loop) submits jobs and
 * learns of finished ones through an eventfd it watches; jobpool_complete()
 * then calls each finished job's done callback on the owner's thread. A
 * job's run callback runs on a pool thread and must touch only what the
 * job owns: never the owner's state (sessions, loop, timers).
 *
 * Generic on purpose (util/ includes nothing above it): the POP3 worker
 * runs maildrop opens and commits on it; delivery and LMTP can reuse it. */
#ifndef SATCHEL_JOBPOOL_H
#define SATCHEL_JOBPOOL_H

#include <stdbool.h>

#define JOBPOOL_THREADS_MAX 16

struct jobpool_job;

typedef void jobpool_fn(struct jobpool_job *job);

/* Embed this in the job's own struct. The caller owns the memory; the
 * pool only links it from submit until done is called. */
struct jobpool_job {
	struct jobpool_job *next;  /* the pool's */
	jobpool_fn *run;           /* on a pool thread */
	jobpool_fn *done;          /* on the owner's thread; may free job */
};

struct jobpool;

/* Starts threads (1..JOBPOOL_THREADS_MAX; fewer if some cannot start).
 * Pool threads block every signal (signals stay with the owner) and run
 * at a lower priority than the owner (the loop answers first when the
 * CPUs are busy). NULL on failure (errno set). */
struct jobpool *jobpool_create(unsigned threads);
/* Lets every queued and running job finish, calls their done callbacks
 * (so no job is lost: a commit that started completes, an open's lock is
 * released by its done), stops the threads and frees. A done called from
 * here must not submit. NULL-safe, sets *poolp = NULL. */
void jobpool_destroy(struct jobpool **poolp);

/* Readable (eventfd) when jobs have finished: call jobpool_complete(). */
int jobpool_fd(const struct jobpool *pool);

/* Queues job (run and done set). Jobs start in submit order. */
void jobpool_submit(struct jobpool *pool, struct jobpool_job *job);
/* Calls done for every finished job, in finish order. Returns how many. */
unsigned jobpool_complete(struct jobpool *pool);

/* Jobs submitted whose done has not been called yet. */
unsigned jobpool_in_flight(const struct jobpool *pool);

#endif
