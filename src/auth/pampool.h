/* pampool.h: the auth process's pool of PAM helper processes
 * (pam_helper.h), asked without blocking: requests wait in a queue,
 * each idle helper is sent one, its answer comes back when its socket
 * is readable. A helper is retired after max_requests answers (PAM
 * modules leak and keep state) and a new one asked of the spawner
 * (sysspawn.h); a helper that dies or takes longer than timeout_ms fails
 * its request as unavailable ([SYS/TEMP], never a wrong password) and is
 * replaced. Everything runs on the auth process's main thread. */
#ifndef SATCHEL_PAMPOOL_H
#define SATCHEL_PAMPOOL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/pam_proto.h"

#define PAMPOOL_HELPERS_MAX 16
#define PAMPOOL_QUEUE_MAX 4096   /* more: answered unavailable at once */

struct pampool_req;
/* Called once per submitted request, with the helper's answer or one
 * made here (verdict PAM_VERDICT_UNAVAILABLE, why set). req is the
 * caller's again (to free); its password is wiped already. */
typedef void pampool_done_fn(struct pampool_req *req,
			     const struct pam_answer *ans);

struct pampool_req {
	struct pampool_req *next;      /* the pool's while submitted */
	struct pam_request msg;        /* the caller fills all but id */
	pampool_done_fn *done;
	void *context;                 /* the caller's */
	uint64_t queued_ms;
};

struct pampool_settings {
	int spawner_fd;                /* sysspawn_socket(); -1: none */
	unsigned helpers;              /* 1..PAMPOOL_HELPERS_MAX */
	unsigned max_requests;         /* per helper, then it is replaced */
	unsigned timeout_ms;           /* per request, queued or asked */
};

struct pampool;

/* Asks the spawner for the helpers. NULL when out of memory. */
struct pampool *pampool_create(const struct pampool_settings *set);
/* Fails every request still held (their done is called). NULL-safe. */
void pampool_destroy(struct pampool **poolp);

/* Queues req (done is called later, never from here). */
void pampool_submit(struct pampool *pool, struct pampool_req *req,
		    uint64_t now_ms);
size_t pampool_poll_fds(struct pampool *pool, struct pollfd *fds,
			size_t max, uint64_t now_ms, int *timeout_ms);
/* Reads answers, replaces helpers, sends queued requests, times out;
 * never blocks. */
void pampool_process(struct pampool *pool, uint64_t now_ms);

#endif
