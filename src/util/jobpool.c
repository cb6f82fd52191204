/* jobpool.c: a small thread pool with completion on the owner's thread
 * (see jobpool.h). Two FIFO lists under one mutex; an eventfd wakes the
 * owner. The shape of auth/hashpool.c, without knowing what jobs do. */
#include "util/jobpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How much nicer than its owner a pool thread runs (0..19). */
#define JOBPOOL_NICE 10

struct jobpool_list {
	struct jobpool_job *head, *tail;
};

struct jobpool {
	pthread_mutex_t lock;
	pthread_cond_t work;       /* queued grew, or stopping */
	struct jobpool_list queued, done;
	unsigned in_flight;        /* owner's thread only */
	bool stopping;
	int event_fd;
	unsigned nthreads;
	pthread_t threads[JOBPOOL_THREADS_MAX];
};

static void jobpool_push(struct jobpool_list *l, struct jobpool_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
}

static struct jobpool_job *jobpool_pop(struct jobpool_list *l)
{
	struct jobpool_job *job = l->head;

	if (job != NULL) {
		l->head = job->next;
		if (l->head == NULL)
			l->tail = NULL;
		job->next = NULL;
	}
	return job;
}

static void *jobpool_thread(void *arg)
{
	struct jobpool *pool = arg;
	uint64_t one = 1;

	/* Below the owner's priority (Linux: nice is per thread, and threads
	 * a job starts inherit it): when the CPUs are busy, the event loop
	 * answering clients runs first and the long job waits. Failing to
	 * lower our own priority changes nothing else. */
	errno = 0;
	{
		int prio = getpriority(PRIO_PROCESS, (id_t)gettid());

		if (errno == 0)
			(void)setpriority(PRIO_PROCESS, (id_t)gettid(),
					  prio + JOBPOOL_NICE);
	}

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct jobpool_job *job;

		while (!pool->stopping && pool->queued.head == NULL)
			pthread_cond_wait(&pool->work, &pool->lock);
		/* stopping only after the queue is empty: no job is lost */
		job = jobpool_pop(&pool->queued);
		if (job == NULL)
			break;
		pthread_mutex_unlock(&pool->lock);

		job->run(job);

		pthread_mutex_lock(&pool->lock);
		jobpool_push(&pool->done, job);
		/* An eventfd write fails only on counter overflow (2^64). */
		(void)!write(pool->event_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct jobpool *jobpool_create(unsigned threads)
{
	struct jobpool *pool = calloc(1, sizeof(*pool));
	sigset_t all, old;
	int err = 0;

	if (pool == NULL)
		return NULL;
	if (threads == 0)
		threads = 1;
	if (threads > JOBPOOL_THREADS_MAX)
		threads = JOBPOOL_THREADS_MAX;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->event_fd < 0)
		goto out_free;
	/* Threads inherit the mask: signals stay with the owner's thread
	 * (a worker reads them from a signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; pool->nthreads < threads; pool->nthreads++) {
		err = pthread_create(&pool->threads[pool->nthreads], NULL,
				     jobpool_thread, pool);
		if (err != 0)
			break; /* fewer threads still work */
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pool->nthreads == 0) {
		close(pool->event_fd);
		errno = err;
		goto out_free;
	}
	return pool;

out_free:
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	return NULL;
}

void jobpool_destroy(struct jobpool **poolp)
{
	struct jobpool *pool = *poolp;

	if (pool == NULL)
		return;
	*poolp = NULL;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	/* the threads empty the queue before they leave */
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	(void)jobpool_complete(pool);
	close(pool->event_fd);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int jobpool_fd(const struct jobpool *pool)
{
	return pool->event_fd;
}

void jobpool_submit(struct jobpool *pool, struct jobpool_job *job)
{
	pthread_mutex_lock(&pool->lock);
	jobpool_push(&pool->queued, job);
	pool->in_flight++;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

unsigned jobpool_complete(struct jobpool *pool)
{
	struct jobpool_list done;
	struct jobpool_job *job;
	unsigned n = 0;
	uint64_t count;

	/* Reset the counter first: a job finishing after this read writes
	 * again, so no wakeup is lost. */
	(void)!read(pool->event_fd, &count, sizeof(count));
	pthread_mutex_lock(&pool->lock);
	done = pool->done;
	pool->done.head = pool->done.tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	/* done callbacks may submit new jobs: the list is ours now */
	while ((job = jobpool_pop(&done)) != NULL) {
		pool->in_flight--;
		n++;
		job->done(job);
	}
	return n;
}

unsigned jobpool_in_flight(const struct jobpool *pool)
{
	return pool->in_flight;
}
