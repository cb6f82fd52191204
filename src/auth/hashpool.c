/* hashpool.c: a small thread pool for password verification (see
 * hashpool.h). Two FIFO lists under one mutex; an eventfd signals the
 * main thread. */
#include "auth/hashpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "auth/password.h"

#define HASHPOOL_THREADS_MAX 16

struct job_list {
	struct hashjob *head, *tail;
};

struct hashpool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job_list queued, done;
	unsigned in_flight;
	bool stopping;
	int event_fd;
	unsigned nthreads;
	pthread_t threads[HASHPOOL_THREADS_MAX];
};

static void list_push(struct job_list *l, struct hashjob *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
}

static struct hashjob *list_pop(struct job_list *l)
{
	struct hashjob *job = l->head;

	if (job != NULL) {
		l->head = job->next;
		if (l->head == NULL)
			l->tail = NULL;
		job->next = NULL;
	}
	return job;
}

void hashpool_job_run(struct hashjob *job)
{
	switch (job->kind) {
	case HASHJOB_VERIFY:
		if (job->dummy) {
			password_dummy_verify(job->password);
			job->matched = false;
		} else {
			enum password_check c =
				password_check(job->stored, job->password);

			job->matched = c == PASSWORD_MATCH;
			job->unavailable = c == PASSWORD_UNAVAILABLE;
		}
		break;
	case HASHJOB_SCRAM_KEYS:
		job->failed = scram_keys_from_password(job->scram.hash,
						       job->password,
						       job->scram.salt,
						       job->scram.salt_len,
						       job->scram.iter,
						       job->scram.stored_key,
						       job->scram.server_key) < 0;
		break;
	}
	explicit_bzero(job->password, sizeof(job->password));
}

static void *hashpool_thread(void *arg)
{
	struct hashpool *pool = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct hashjob *job;

		while (!pool->stopping && pool->queued.head == NULL)
			pthread_cond_wait(&pool->work, &pool->lock);
		if (pool->stopping)
			break;
		job = list_pop(&pool->queued);
		pthread_mutex_unlock(&pool->lock);

		hashpool_job_run(job);

		pthread_mutex_lock(&pool->lock);
		list_push(&pool->done, job);
		/* An eventfd write only fails on counter overflow. */
		if (write(pool->event_fd, &one, sizeof(one)) < 0)
			break;
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct hashpool *hashpool_create(unsigned threads)
{
	struct hashpool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	if (threads == 0)
		threads = 1;
	if (threads > HASHPOOL_THREADS_MAX)
		threads = HASHPOOL_THREADS_MAX;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->event_fd < 0)
		goto out_free;
	for (; pool->nthreads < threads; pool->nthreads++) {
		int err = pthread_create(&pool->threads[pool->nthreads], NULL,
					 hashpool_thread, pool);

		if (err != 0) {
			errno = err;
			if (pool->nthreads > 0)
				break; /* fewer threads still work */
			close(pool->event_fd);
			goto out_free;
		}
	}
	return pool;

out_free:
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	return NULL;
}

static void free_list(struct job_list *l)
{
	struct hashjob *job;

	while ((job = list_pop(l)) != NULL)
		hashpool_job_free(&job);
}

void hashpool_destroy(struct hashpool **poolp)
{
	struct hashpool *pool = *poolp;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free_list(&pool->queued);
	free_list(&pool->done);
	close(pool->event_fd);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	*poolp = NULL;
}

int hashpool_fd(const struct hashpool *pool)
{
	return pool->event_fd;
}

void hashpool_submit(struct hashpool *pool, struct hashjob *job)
{
	pthread_mutex_lock(&pool->lock);
	list_push(&pool->queued, job);
	pool->in_flight++;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

struct hashjob *hashpool_take(struct hashpool *pool)
{
	struct hashjob *job;
	uint64_t count;

	/* Reset the counter first: a job finishing after this read writes
	 * again, so no wakeup is lost. */
	if (read(pool->event_fd, &count, sizeof(count)) < 0 &&
	    errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&pool->lock);
	job = list_pop(&pool->done);
	if (job != NULL)
		pool->in_flight--;
	pthread_mutex_unlock(&pool->lock);
	return job;
}

unsigned hashpool_in_flight(const struct hashpool *pool)
{
	return pool->in_flight;
}

struct hashjob *hashpool_job_new(void)
{
	return calloc(1, sizeof(struct hashjob));
}

void hashpool_job_free(struct hashjob **jobp)
{
	if (*jobp == NULL)
		return;
	explicit_bzero(*jobp, sizeof(**jobp));
	free(*jobp);
	*jobp = NULL;
}
