/* test-pampool.c: the PAM driver's spec, the {PAM} scheme, and the pool
 * of helpers (pampool.h) against fake helpers this test plays itself:
 * the spawner's answers, answers in order, a helper retired after
 * max_requests, a dead helper and a silent one answered as unavailable. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/pampool.h"
#include "auth/password.h"
#include "auth/userdb.h"
#include "net/fdpass.h"
#include "unit.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_spec(void)
{
	const char *error = NULL;

	CHECK(userdb_spec_check("pam", &error) == 0, "pam alone");
	CHECK(userdb_spec_check("pam:imap", &error) == 0, "pam:SERVICE");
	CHECK(userdb_spec_check("passwd-file:/etc/x,pam", &error) == 0,
	      "passwd-file then pam");
	CHECK(userdb_spec_check("pam, passwd-file:/etc/x", &error) == 0,
	      "pam then passwd-file");
	CHECK(userdb_spec_check("pam:../x", &error) < 0,
	      "a service with a slash is refused");
	CHECK(userdb_spec_check("pamx", &error) < 0, "pamx is no driver");
	CHECK(userdb_spec_has("passwd-file:/etc/x,pam:svc", "pam"),
	      "spec has pam");
	CHECK(!userdb_spec_has("passwd-file:/etc/pam", "pam"),
	      "a path naming pam is no pam");
	CHECK(password_scheme_known("{PAM}satchel"), "{PAM} is known");
	CHECK(!password_scheme_known("{PAM}"), "{PAM} needs a service");
	CHECK(!password_verify("{PAM}satchel", "satchel"),
	      "{PAM} never matches a hash check");
	CHECK(userdb_verify_own("{PAM}satchel"), "{PAM} is the driver's");
	CHECK(!userdb_verify_own("{PLAIN}x"), "{PLAIN} is not");
}

/* ---- the pool against fake helpers ---- */

struct outcome {
	int calls;
	uint32_t verdict;
	uint32_t delay_ms;
	char user[PASSWD_USER_MAX + 1];
};

static void done(struct pampool_req *req, const struct pam_answer *ans)
{
	struct outcome *o = req->context;

	o->calls++;
	o->verdict = ans->verdict;
	o->delay_ms = ans->delay_ms;
	snprintf(o->user, sizeof(o->user), "%s", req->msg.user);
	CHECK(req->msg.password[0] == '\0', "the password is wiped");
}

/* Runs the pool until every outcome has its call or ms passed. */
static void run(struct pampool *pool, struct outcome *o, int n, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd fds[PAMPOOL_HELPERS_MAX + 1];
		int timeout = 50, i, left = 0;
		size_t nfds;

		for (i = 0; i < n; i++)
			left += o[i].calls == 0;
		if (left == 0 || now_ms() >= end)
			return;
		nfds = pampool_poll_fds(pool, fds, PAMPOOL_HELPERS_MAX + 1,
					now_ms(), &timeout);
		(void)poll(fds, nfds, timeout < 0 || timeout > 50 ? 50 :
			   timeout);
		pampool_process(pool, now_ms());
	}
}

/* The spawner's part: a new socketpair per request, the pool's end
 * passed; the helper's end in *helper_r. */
static int spawn_one(int spawner, int *helper_r)
{
	struct sysspawn_request sr;
	unsigned char ok = 1;
	int pair[2];

	if (recv(spawner, &sr, sizeof(sr), 0) != (ssize_t)sizeof(sr) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) < 0)
		return -1;
	if (fdpass_send(spawner, &ok, 1, pair[0]) < 0)
		return -1;
	close(pair[0]);
	*helper_r = pair[1];
	return 0;
}

/* The helper's part for one request: answers MATCH for "good", else
 * MISMATCH with a 1500 ms delay. */
static int answer_one(int helper)
{
	struct pam_request req;
	struct pam_answer ans;

	if (recv(helper, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		return -1;
	memset(&ans, 0, sizeof(ans));
	ans.kind = req.kind;
	ans.id = req.id;
	ans.uid = ans.gid = -1;
	if (strcmp(req.password, "good") == 0) {
		ans.verdict = PAM_VERDICT_MATCH;
	} else {
		ans.verdict = PAM_VERDICT_MISMATCH;
		ans.delay_ms = 1500;
	}
	return send(helper, &ans, sizeof(ans), 0) == (ssize_t)sizeof(ans) ?
	       0 : -1;
}

static void req_init(struct pampool_req *r, struct outcome *o,
		     const char *user, const char *password)
{
	memset(r, 0, sizeof(*r));
	r->msg.kind = PAM_MSG_CHECK;
	strcpy(r->msg.service, "satchel");
	strcpy(r->msg.user, user);
	strcpy(r->msg.password, password);
	r->done = done;
	r->context = o;
}

static void test_pool(void)
{
	struct pampool_settings set = { -1, 1, 2, 300 };
	struct pampool_req r[4];
	struct outcome o[4];
	struct pampool *pool;
	int sp[2], helper = -1, helper2 = -1;

	memset(o, 0, sizeof(o));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0) {
		CHECK(0, "socketpair");
		return;
	}
	set.spawner_fd = sp[0];
	pool = pampool_create(&set);
	CHECK(pool != NULL, "pool made");
	if (pool == NULL)
		return;
	pampool_process(pool, now_ms());          /* asks for a helper */
	CHECK(spawn_one(sp[1], &helper) == 0, "one helper asked for");

	/* two requests, one helper: answered in turn */
	req_init(&r[0], &o[0], "ann", "good");
	req_init(&r[1], &o[1], "ben", "bad");
	pampool_submit(pool, &r[0], now_ms());
	pampool_submit(pool, &r[1], now_ms());
	CHECK(o[0].calls == 0, "done is never called from submit");
	pampool_process(pool, now_ms());          /* reads the helper */
	CHECK(answer_one(helper) == 0, "first request sent");
	run(pool, o, 1, 1000);
	CHECK(o[0].calls == 1 && o[0].verdict == PAM_VERDICT_MATCH,
	      "ann matched");
	CHECK(answer_one(helper) == 0, "second request sent");
	run(pool, o + 1, 1, 1000);
	CHECK(o[1].calls == 1 && o[1].verdict == PAM_VERDICT_MISMATCH &&
	      o[1].delay_ms == 1500, "ben: mismatch with PAM's delay");

	/* two answers: retired, a new one asked for */
	pampool_process(pool, now_ms());
	CHECK(recv(helper, &r[3], 1, MSG_DONTWAIT) == 0,
	      "the retired helper sees EOF");
	close(helper);
	CHECK(spawn_one(sp[1], &helper2) == 0, "a new helper asked for");

	/* a helper that dies while asked: unavailable, replaced */
	req_init(&r[2], &o[2], "cat", "good");
	pampool_submit(pool, &r[2], now_ms());
	pampool_process(pool, now_ms());
	pampool_process(pool, now_ms());
	{
		struct pam_request req;

		CHECK(recv(helper2, &req, sizeof(req), 0) ==
		      (ssize_t)sizeof(req), "cat's request sent");
	}
	close(helper2);
	run(pool, o + 2, 1, 1000);
	CHECK(o[2].calls == 1 && o[2].verdict == PAM_VERDICT_UNAVAILABLE,
	      "a dead helper: unavailable");
	CHECK(spawn_one(sp[1], &helper) == 0, "replaced");

	/* a silent helper: unavailable after the timeout */
	req_init(&r[3], &o[3], "dan", "good");
	pampool_submit(pool, &r[3], now_ms());
	run(pool, o + 3, 1, 2000);
	CHECK(o[3].calls == 1 && o[3].verdict == PAM_VERDICT_UNAVAILABLE,
	      "a silent helper: unavailable after pam_timeout");

	pampool_destroy(&pool);
	CHECK(pool == NULL, "destroyed");
	close(helper);
	close(sp[0]);
	close(sp[1]);
}

int main(void)
{
	test_spec();
	test_pool();
	return unit_done();
}
