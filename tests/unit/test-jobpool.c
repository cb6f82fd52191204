/* test-jobpool.c: every job runs once on a pool thread (not the owner's),
 * its done runs once on the owner's thread after the eventfd wakes it,
 * blocking jobs run side by side, and destroy finishes queued jobs. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util/jobpool.h"
#include "unit.h"

#define JOBS 64

struct test_job {
	struct jobpool_job job;    /* first: the pool's link */
	unsigned index;
	unsigned sleep_ms;
	pthread_t ran_on;
	unsigned runs, dones;
	bool done_on_owner;
};

static pthread_t owner;
static unsigned dones_total;

static void test_run(struct jobpool_job *job)
{
	struct test_job *t = (struct test_job *)job;
	struct timespec ts = { 0, (long)t->sleep_ms * 1000000L };

	t->ran_on = pthread_self();
	t->runs++;
	if (t->sleep_ms > 0)
		nanosleep(&ts, NULL);
}

static void test_done(struct jobpool_job *job)
{
	struct test_job *t = (struct test_job *)job;

	t->dones++;
	t->done_on_owner = pthread_equal(pthread_self(), owner);
	dones_total++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on the eventfd as a loop would; false after deadline_ms. */
static bool complete_all(struct jobpool *pool, unsigned want,
			 uint64_t deadline_ms)
{
	while (dones_total < want) {
		struct pollfd pfd = { .fd = jobpool_fd(pool),
				      .events = POLLIN };

		if (now_ms() > deadline_ms)
			return false;
		if (poll(&pfd, 1, 100) == 1)
			(void)jobpool_complete(pool);
	}
	return true;
}

int main(void)
{
	static struct test_job jobs[JOBS];
	struct jobpool *pool = jobpool_create(4);
	unsigned bad_runs = 0, bad_dones = 0, on_owner = 0, off_owner = 0;
	uint64_t t0;

	owner = pthread_self();
	CHECK(pool != NULL, "pool created");
	if (pool == NULL)
		return unit_done();
	for (unsigned i = 0; i < JOBS; i++) {
		jobs[i].index = i;
		jobs[i].job.run = test_run;
		jobs[i].job.done = test_done;
		jobpool_submit(pool, &jobs[i].job);
	}
	CHECK(complete_all(pool, JOBS, now_ms() + 10000),
	      "every done called within 10 s");
	for (unsigned i = 0; i < JOBS; i++) {
		bad_runs += jobs[i].runs != 1;
		bad_dones += jobs[i].dones != 1;
		on_owner += jobs[i].done_on_owner;
		off_owner += !pthread_equal(jobs[i].ran_on, owner);
	}
	CHECK(bad_runs == 0, "each job ran exactly once");
	CHECK(bad_dones == 0, "each done ran exactly once");
	CHECK(on_owner == JOBS, "done runs on the owner's thread");
	CHECK(off_owner == JOBS, "run runs on a pool thread");
	CHECK(jobpool_in_flight(pool) == 0, "nothing in flight");

	/* Four 200 ms jobs on four threads: side by side, not 800 ms. */
	dones_total = 0;
	t0 = now_ms();
	for (unsigned i = 0; i < 4; i++) {
		jobs[i].runs = jobs[i].dones = 0;
		jobs[i].sleep_ms = 200;
		jobpool_submit(pool, &jobs[i].job);
	}
	CHECK(jobpool_in_flight(pool) == 4, "four in flight");
	CHECK(complete_all(pool, 4, now_ms() + 10000), "blocking jobs done");
	CHECK(now_ms() - t0 < 700, "blocking jobs ran in parallel");

	/* Destroy with queued work: every job still runs and completes. */
	dones_total = 0;
	for (unsigned i = 0; i < 12; i++) {
		jobs[i].runs = jobs[i].dones = 0;
		jobs[i].sleep_ms = 20;
		jobpool_submit(pool, &jobs[i].job);
	}
	jobpool_destroy(&pool);
	CHECK(pool == NULL, "destroy clears the pointer");
	CHECK(dones_total == 12, "destroy finished and completed queued jobs");
	bad_runs = 0;
	for (unsigned i = 0; i < 12; i++)
		bad_runs += jobs[i].runs != 1 || jobs[i].dones != 1;
	CHECK(bad_runs == 0, "each queued job ran and completed once");
	jobpool_destroy(&pool); /* NULL-safe */
	return unit_done();
}
