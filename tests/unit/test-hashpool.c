/* test-hashpool.c: threaded password verification gives the same answers
 * as password_verify, every job comes back once, and nothing is lost. */
#include <poll.h>
#include <stdio.h>
#include <time.h>

#include "auth/hashpool.h"
#include "auth/password.h"
#include "unit.h"

#define JOBS 40

int main(void)
{
	struct hashpool *pool = hashpool_create(2);
	char stored[256];
	unsigned seen[JOBS] = { 0 }, matched = 0, taken = 0;
	struct timespec t0, t1;

	CHECK(pool != NULL, "pool created");
	if (pool == NULL)
		return unit_done();
	CHECK(password_hash("sha512-crypt", "right", stored,
			    sizeof(stored)) == 0, "hash made");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < JOBS; i++) {
		struct hashjob *job = hashpool_job_new();

		job->id = i;
		job->dummy = i % 10 == 9;
		snprintf(job->stored, sizeof(job->stored), "%s", stored);
		snprintf(job->password, sizeof(job->password), "%s",
			 i % 2 == 0 ? "right" : "wrong");
		hashpool_submit(pool, job);
	}
	while (taken < JOBS) {
		struct pollfd pfd = { .fd = hashpool_fd(pool),
				      .events = POLLIN };
		struct hashjob *job;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		while ((job = hashpool_take(pool)) != NULL) {
			taken++;
			if (job->id < JOBS)
				seen[job->id]++;
			if (job->matched) {
				matched++;
				CHECK(job->id % 2 == 0 && job->id % 10 != 9,
				      "only right, non-dummy jobs match");
			}
			CHECK(job->password[0] == '\0',
			      "password wiped after use");
			hashpool_job_free(&job);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(taken == JOBS, "every job came back");
	CHECK(matched == 20, "all right passwords matched");
	for (unsigned i = 0; i < JOBS; i++) {
		if (seen[i] != 1) {
			CHECK(seen[i] == 1, "each job exactly once");
			break;
		}
	}
	CHECK(hashpool_in_flight(pool) == 0, "nothing in flight");
	printf("# %u verifications in %.1f ms on 2 threads\n", JOBS,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	hashpool_destroy(&pool);
	CHECK(pool == NULL, "destroy clears the pointer");
	return unit_done();
}
