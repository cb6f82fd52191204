/* pampool.c: the pool of PAM helpers (see pampool.h). */
#include "auth/pampool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/fdpass.h"
#include "util/log.h"

/* after the spawner could not start a helper, ask again this much later */
#define PAMPOOL_RETRY_MS 1000

struct pampool_helper {
	int fd;                        /* -1: none */
	struct pampool_req *busy;      /* the request it answers */
	uint64_t sent_ms;
	unsigned served;
};

struct pampool {
	struct pampool_settings set;
	struct pampool_helper helpers[PAMPOOL_HELPERS_MAX];
	unsigned spawning;             /* asked of the spawner, unanswered */
	uint64_t retry_ms;             /* no spawning before this */
	bool spawner_gone;
	struct pampool_req *queue, **tail;
	unsigned queued;
	struct pampool_req *rejected;  /* failed at submit: answered next */
	uint64_t next_id;
};

static void pampool_fail(struct pampool_req *req, const char *why)
{
	struct pam_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.kind = req->msg.kind;
	ans.id = req->msg.id;
	ans.verdict = PAM_VERDICT_UNAVAILABLE;
	ans.uid = ans.gid = -1;
	snprintf(ans.why, sizeof(ans.why), "%s", why);
	explicit_bzero(req->msg.password, sizeof(req->msg.password));
	req->next = NULL;
	req->done(req, &ans);
}

struct pampool *pampool_create(const struct pampool_settings *set)
{
	struct pampool *pool = calloc(1, sizeof(*pool));
	unsigned i;

	if (pool == NULL)
		return NULL;
	pool->set = *set;
	if (pool->set.helpers < 1)
		pool->set.helpers = 1;
	if (pool->set.helpers > PAMPOOL_HELPERS_MAX)
		pool->set.helpers = PAMPOOL_HELPERS_MAX;
	for (i = 0; i < PAMPOOL_HELPERS_MAX; i++)
		pool->helpers[i].fd = -1;
	pool->tail = &pool->queue;
	pool->spawner_gone = set->spawner_fd < 0;
	if (set->spawner_fd >= 0)
		(void)fcntl(set->spawner_fd, F_SETFL,
			    fcntl(set->spawner_fd, F_GETFL) | O_NONBLOCK);
	return pool;
}

static void pampool_helper_close(struct pampool *pool,
				 struct pampool_helper *h, const char *why)
{
	(void)pool;
	if (h->busy != NULL) {
		struct pampool_req *req = h->busy;

		h->busy = NULL;
		pampool_fail(req, why);
	}
	if (h->fd >= 0)
		close(h->fd); /* the helper exits on EOF */
	h->fd = -1;
	h->served = 0;
}

void pampool_destroy(struct pampool **poolp)
{
	struct pampool *pool = *poolp;
	struct pampool_req *req;
	unsigned i;

	if (pool == NULL)
		return;
	*poolp = NULL;
	for (i = 0; i < PAMPOOL_HELPERS_MAX; i++)
		pampool_helper_close(pool, &pool->helpers[i], "shutting down");
	while ((req = pool->queue) != NULL) {
		pool->queue = req->next;
		pampool_fail(req, "shutting down");
	}
	while ((req = pool->rejected) != NULL) {
		pool->rejected = req->next;
		pampool_fail(req, "too many PAM requests waiting");
	}
	free(pool);
}

void pampool_submit(struct pampool *pool, struct pampool_req *req,
		    uint64_t now_ms)
{
	req->msg.id = ++pool->next_id;
	req->queued_ms = now_ms;
	req->next = NULL;
	if (pool->queued >= PAMPOOL_QUEUE_MAX) {
		req->next = pool->rejected;
		pool->rejected = req;
		return;
	}
	*pool->tail = req;
	pool->tail = &req->next;
	pool->queued++;
}

static unsigned pampool_alive(const struct pampool *pool)
{
	unsigned i, n = 0;

	for (i = 0; i < PAMPOOL_HELPERS_MAX; i++)
		n += pool->helpers[i].fd >= 0;
	return n;
}

/* Asks the spawner for the helpers missing. */
static void pampool_spawn(struct pampool *pool, uint64_t now_ms)
{
	struct sysspawn_request sr = { SYSSPAWN_PAM_HELPER, 0 };

	while (!pool->spawner_gone && now_ms >= pool->retry_ms &&
	       pampool_alive(pool) + pool->spawning < pool->set.helpers) {
		if (send(pool->set.spawner_fd, &sr, sizeof(sr),
			 MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(sr)) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_error("pam: the spawner is gone (%s): PAM logins "
				  "fail temporarily", strerror(errno));
			pool->spawner_gone = true;
			return;
		}
		pool->spawning++;
	}
}

/* The spawner's answers: new helpers. */
static void pampool_spawned(struct pampool *pool, uint64_t now_ms)
{
	for (;;) {
		unsigned char ok = 0;
		ssize_t n;
		int fd = -1;
		unsigned i;

		n = fdpass_recv(pool->set.spawner_fd, &ok, sizeof(ok), &fd);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			log_error("pam: the spawner is gone: PAM logins fail "
				  "temporarily");
			pool->spawner_gone = true;
			return;
		}
		if (pool->spawning > 0)
			pool->spawning--;
		if (n != 1 || ok != 1 || fd < 0) {
			if (fd >= 0)
				close(fd);
			log_warn("pam: the spawner could not start a helper");
			pool->retry_ms = now_ms + PAMPOOL_RETRY_MS;
			continue;
		}
		for (i = 0; i < PAMPOOL_HELPERS_MAX; i++) {
			if (pool->helpers[i].fd < 0)
				break;
		}
		if (i == PAMPOOL_HELPERS_MAX) {
			close(fd);
			continue;
		}
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		pool->helpers[i].fd = fd;
		pool->helpers[i].served = 0;
		pool->helpers[i].busy = NULL;
	}
}

/* One answer of helper h. */
static void pampool_read(struct pampool *pool, struct pampool_helper *h)
{
	struct pam_answer ans;
	struct pampool_req *req;
	ssize_t n = recv(h->fd, &ans, sizeof(ans), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(ans) || h->busy == NULL ||
	    ans.id != h->busy->msg.id || ans.kind != h->busy->msg.kind ||
	    memchr(ans.home, '\0', sizeof(ans.home)) == NULL ||
	    memchr(ans.why, '\0', sizeof(ans.why)) == NULL) {
		if (n != 0 || h->busy != NULL)
			log_warn("pam: a helper %s", n == 0 ? "died" :
				 "sent a bad answer");
		pampool_helper_close(pool, h, "the PAM helper died");
		return;
	}
	req = h->busy;
	h->busy = NULL;
	req->next = NULL;
	req->done(req, &ans);
	/* PAM modules keep state and may leak: a fresh process now and
	 * then */
	if (++h->served >= pool->set.max_requests)
		pampool_helper_close(pool, h, "retired");
}

/* Sends queued requests to idle helpers. */
static void pampool_dispatch(struct pampool *pool, uint64_t now_ms)
{
	unsigned i;

	for (i = 0; i < PAMPOOL_HELPERS_MAX && pool->queue != NULL; i++) {
		struct pampool_helper *h = &pool->helpers[i];
		struct pampool_req *req = pool->queue;

		if (h->fd < 0 || h->busy != NULL)
			continue;
		pool->queue = req->next;
		if (pool->queue == NULL)
			pool->tail = &pool->queue;
		pool->queued--;
		req->next = NULL;
		h->busy = req;
		h->sent_ms = now_ms;
		if (send(h->fd, &req->msg, sizeof(req->msg),
			 MSG_DONTWAIT | MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(req->msg))
			pampool_helper_close(pool, h, "the PAM helper died");
		explicit_bzero(req->msg.password, sizeof(req->msg.password));
	}
}

/* Requests that waited or ran longer than the timeout. */
static void pampool_expire(struct pampool *pool, uint64_t now_ms)
{
	struct pampool_req *req;
	unsigned i;

	for (i = 0; i < PAMPOOL_HELPERS_MAX; i++) {
		struct pampool_helper *h = &pool->helpers[i];

		if (h->busy != NULL &&
		    now_ms >= h->sent_ms + pool->set.timeout_ms) {
			log_warn("pam: no answer within %u ms: the helper is "
				 "replaced", pool->set.timeout_ms);
			pampool_helper_close(pool, h, "PAM did not answer in "
					     "time");
		}
	}
	while ((req = pool->queue) != NULL &&
	       (now_ms >= req->queued_ms + pool->set.timeout_ms ||
		(pool->spawner_gone && pampool_alive(pool) == 0))) {
		pool->queue = req->next;
		if (pool->queue == NULL)
			pool->tail = &pool->queue;
		pool->queued--;
		pampool_fail(req, "no PAM helper free in time");
	}
}

size_t pampool_poll_fds(struct pampool *pool, struct pollfd *fds,
			size_t max, uint64_t now_ms, int *timeout_ms)
{
	size_t n = 0;
	unsigned i;
	uint64_t at = UINT64_MAX;

	if (!pool->spawner_gone && n < max) {
		fds[n].fd = pool->set.spawner_fd;
		fds[n].events = POLLIN;
		n++;
	}
	for (i = 0; i < PAMPOOL_HELPERS_MAX && n < max; i++) {
		const struct pampool_helper *h = &pool->helpers[i];

		if (h->fd < 0)
			continue;
		fds[n].fd = h->fd;
		fds[n].events = POLLIN;
		n++;
		if (h->busy != NULL && h->sent_ms + pool->set.timeout_ms < at)
			at = h->sent_ms + pool->set.timeout_ms;
	}
	if (pool->queue != NULL &&
	    pool->queue->queued_ms + pool->set.timeout_ms < at)
		at = pool->queue->queued_ms + pool->set.timeout_ms;
	/* a request waits and a helper is idle: dispatch at once */
	for (i = 0; pool->queue != NULL && i < PAMPOOL_HELPERS_MAX; i++) {
		if (pool->helpers[i].fd >= 0 && pool->helpers[i].busy == NULL)
			at = now_ms;
	}
	if (pool->rejected != NULL)
		at = now_ms;
	if (pool->retry_ms > now_ms && pool->retry_ms < at &&
	    pampool_alive(pool) + pool->spawning < pool->set.helpers)
		at = pool->retry_ms;
	if (at != UINT64_MAX) {
		int ms = at > now_ms ? (int)(at - now_ms) : 0;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = ms;
	}
	return n;
}

void pampool_process(struct pampool *pool, uint64_t now_ms)
{
	struct pampool_req *req;
	unsigned i;

	while ((req = pool->rejected) != NULL) {
		pool->rejected = req->next;
		pampool_fail(req, "too many PAM requests waiting");
	}
	if (!pool->spawner_gone)
		pampool_spawned(pool, now_ms);
	for (i = 0; i < PAMPOOL_HELPERS_MAX; i++) {
		struct pampool_helper *h = &pool->helpers[i];

		if (h->fd >= 0)
			pampool_read(pool, h);
	}
	pampool_expire(pool, now_ms);
	pampool_spawn(pool, now_ms);
	pampool_dispatch(pool, now_ms);
}
