/* maildrop_agent.c: the maildrop API over a socket to a mail agent (see
 * agent_proto.h): the worker's side of a session whose maildrop another
 * process holds with the user's uid.
 *
 * Where each call runs and how long it may wait: open and commit run as
 * store jobs on the worker's pool (session_store.c), so they block on the
 * agent for up to AGENT_JOB_TIMEOUT_MS (an open of a cold Maildir of
 * 100,000 messages, an mbox rewrite); reader_open runs on the event loop
 * (RETR, TOP) and waits at most AGENT_LOOP_TIMEOUT_MS; refresh_lock runs
 * on the loop too and never waits (the agent refreshes its own lock and
 * exits when it loses it). An agent that dies, answers out of turn or
 * does not answer in time makes the maildrop dead: that call and every
 * later one fail with MAILDROP_TEMP ([SYS/TEMP]), and the socket is
 * closed so the agent exits as soon as it runs again. Nothing is
 * deleted unless the agent confirmed a commit. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/fdpass.h"
#include "store/agent_proto.h"
#include "store/driver.h"

/* Each wait of a job (open, commit) at most: a commit that fsyncs
 * thousands of moves on a slow disk still fits. */
#define AGENT_JOB_TIMEOUT_MS 120000
/* A message's descriptor on the loop: the agent opens one file. A
 * stopped agent costs its worker at most this once: the maildrop is dead
 * afterwards. */
#define AGENT_LOOP_TIMEOUT_MS 2000

struct agent_drop {
	struct maildrop drop;        /* first: maildrop.h's face */
	int fd;                      /* -1 once dead */
	const char *why;             /* the first failure, static */
};

struct agent_reader {
	struct maildrop_reader reader;
	int fd;
	uint64_t off;
};

/* One reply buffer per call, on the heap: MSGS is 20 KB. */
union agent_rx {
	struct agent_hdr hdr;
	struct agent_result result;
	struct agent_msgs msgs;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void agent_dead(struct agent_drop *ad, const char *why)
{
	if (ad->fd >= 0) {
		close(ad->fd);
		ad->fd = -1;
	}
	if (ad->why == NULL)
		ad->why = why;
}

/* Waits for events on the socket until deadline. 0, or -1 (timed out,
 * hung up, an error). */
static int agent_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			return p.revents & events ? 0 : -1;
	}
}

static int agent_send(struct agent_drop *ad, const void *msg, int64_t deadline)
{
	size_t len = agent_proto_len(msg);

	for (;;) {
		ssize_t n;

		if (ad->fd < 0)
			return -1;
		n = send(ad->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    agent_wait(ad->fd, POLLOUT, deadline) == 0)
			continue;
		agent_dead(ad, "the mail agent is gone or does not answer");
		return -1;
	}
}

/* Receives one reply of type want into buf of size octets (a descriptor
 * with it into *fd_r when fd_r is not NULL). 0, or -1 with the maildrop
 * dead. */
static int agent_recv(struct agent_drop *ad, void *buf, size_t size,
		      uint32_t want, uint32_t first, uint32_t count,
		      int64_t deadline, int *fd_r)
{
	int fd = -1;
	ssize_t n;

	if (fd_r != NULL)
		*fd_r = -1;
	for (;;) {
		if (ad->fd < 0)
			return -1;
		if (agent_wait(ad->fd, POLLIN, deadline) < 0) {
			agent_dead(ad, "the mail agent is gone or does not "
				   "answer");
			return -1;
		}
		n = fdpass_recv_flags(ad->fd, buf, size,
				      MSG_DONTWAIT | MSG_TRUNC, &fd);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (n <= 0 || (size_t)n > size ||
	    !agent_proto_check_reply(buf, (size_t)n, want, first, count) ||
	    (fd >= 0 && fd_r == NULL)) {
		if (fd >= 0)
			close(fd);
		agent_dead(ad, n == 0 ? "the mail agent has gone" :
			   "a malformed answer from the mail agent");
		return -1;
	}
	if (fd_r != NULL)
		*fd_r = fd;
	return 0;
}

/* The agent's refusal (IN_USE, PERM, TEMP) as a static text: the agent's
 * own words are logged by the agent, never trusted into our logs. */
static const char *agent_refusal(int ret)
{
	return ret == MAILDROP_IN_USE ? "the maildrop is locked" :
	       ret == MAILDROP_PERM ? "the mail agent cannot use the "
				      "maildrop (see its log line)" :
	       "the mail agent could not open the maildrop (see its log "
	       "line)";
}

static int agent_load(struct agent_drop *ad, union agent_rx *rx,
		      int64_t deadline)
{
	unsigned count = ad->drop.count;

	for (unsigned got = 0; got < count;) {
		if (agent_recv(ad, rx, sizeof(*rx), AGENT_REP_MSGS, got, count, deadline,
			       NULL) < 0)
			return -1;
		for (uint32_t i = 0; i < rx->msgs.n; i++) {
			struct maildrop_msg *m = &ad->drop.msgs[got + i];
			const struct agent_msg_entry *e = &rx->msgs.e[i];

			m->size = e->size;
			m->seen = (e->flags & AGENT_FLAG_SEEN) != 0;
			m->utf8 = e->utf8;      /* in range: agent_proto.c */
			m->wrap_size = e->wrap_size;
			memcpy(m->uidl, e->uidl, sizeof(m->uidl));
		}
		got += rx->msgs.n;
	}
	return 0;
}

static void agent_free(struct maildrop *drop)
{
	struct agent_drop *ad = (struct agent_drop *)drop;

	agent_dead(ad, "closed");
	free(ad->drop.msgs);
	free(ad);
}

static int agent_open_drop(const struct maildrop_settings *set,
			   struct maildrop **drop_r, const char **error_r)
{
	int64_t deadline = now_ms() + AGENT_JOB_TIMEOUT_MS;
	struct agent_open req = { .expire_days = set->expire_days,
				  .scan_utf8 = set->scan_utf8 };
	struct agent_drop *ad = calloc(1, sizeof(*ad));
	union agent_rx *rx = malloc(sizeof(*rx));
	int ret = MAILDROP_TEMP;

	*error_r = "out of memory";
	if (ad == NULL || rx == NULL) {
		if (set->agent_fd >= 0)
			close(set->agent_fd);
		free(ad);
		free(rx);
		return MAILDROP_TEMP;
	}
	ad->drop.driver = &agent_driver;
	ad->drop.expire_days = set->expire_days;
	ad->fd = set->agent_fd;
	agent_proto_hdr(&req.hdr, AGENT_REQ_OPEN, sizeof(req));
	if (ad->fd < 0) {
		ad->why = "no mail agent";
		goto out_fail;
	}
	if (agent_send(ad, &req, deadline) < 0 ||
	    agent_recv(ad, rx, sizeof(*rx), AGENT_REP_OPENED, 0, 0, deadline, NULL) < 0)
		goto out_fail;
	if (rx->result.ret != MAILDROP_OK) {
		ret = rx->result.ret;
		ad->why = agent_refusal(ret);
		goto out_fail;
	}
	if (rx->result.count > AGENT_MSGS_MAX) {
		ad->why = "the mail agent reports too many messages";
		goto out_fail;
	}
	ad->drop.count = rx->result.count;
	ad->drop.msgs = calloc(ad->drop.count + 1, sizeof(*ad->drop.msgs));
	if (ad->drop.msgs == NULL) {
		ad->why = "out of memory";
		goto out_fail;
	}
	if (agent_load(ad, rx, deadline) < 0)
		goto out_fail;
	free(rx);
	*drop_r = &ad->drop;
	return MAILDROP_OK;

out_fail:
	*error_r = ad->why;
	free(rx);
	agent_free(&ad->drop);
	return ret;
}

static int agent_refresh_lock(struct maildrop *drop)
{
	struct agent_drop *ad = (struct agent_drop *)drop;
	struct pollfd p = { .fd = ad->fd, .events = POLLIN };

	if (ad->fd < 0)
		return MAILDROP_TEMP;
	/* idle, the agent says nothing: anything here is its end (it
	 * exits when it cannot refresh the lock) or out of turn */
	if (poll(&p, 1, 0) != 0) {
		agent_dead(ad, "the mail agent has gone");
		return MAILDROP_TEMP;
	}
	return MAILDROP_OK;
}

static ssize_t agent_reader_read(struct maildrop_reader *reader, char *buf,
				 size_t size)
{
	struct agent_reader *r = (struct agent_reader *)reader;
	ssize_t n;

	do {
		n = pread(r->fd, buf, size, (off_t)r->off);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		r->off += (uint64_t)n;
	return n;
}

static void agent_reader_free(struct maildrop_reader *reader)
{
	struct agent_reader *r = (struct agent_reader *)reader;

	close(r->fd);
	free(r);
}

static const struct maildrop_reader_vfuncs agent_reader_vfuncs = {
	.read = agent_reader_read,
	.free = agent_reader_free,
};

static int agent_reader_open(struct maildrop *drop, unsigned idx,
			     struct maildrop_reader **reader_r,
			     const char **error_r)
{
	struct agent_drop *ad = (struct agent_drop *)drop;
	int64_t deadline = now_ms() + AGENT_LOOP_TIMEOUT_MS;
	struct agent_index req = { .idx = idx };
	struct agent_result res;
	struct agent_reader *r;
	int fd = -1;

	agent_proto_hdr(&req.hdr, AGENT_REQ_READER, sizeof(req));
	if (agent_send(ad, &req, deadline) < 0 ||
	    agent_recv(ad, &res, sizeof(res), AGENT_REP_READER, 0, 0,
		       deadline, &fd) < 0) {
		*error_r = ad->why;
		return MAILDROP_TEMP;
	}
	if (res.ret != MAILDROP_OK || fd < 0) {
		if (fd >= 0)
			close(fd);
		*error_r = "the mail agent cannot read the message";
		return MAILDROP_TEMP;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		close(fd);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	r->reader.v = &agent_reader_vfuncs;
	r->fd = fd;
	r->off = 0;
	*reader_r = &r->reader;
	return MAILDROP_OK;
}

static int agent_commit(struct maildrop *drop, unsigned *deleted_r,
			const char **error_r)
{
	struct agent_drop *ad = (struct agent_drop *)drop;
	int64_t deadline = now_ms() + AGENT_JOB_TIMEOUT_MS;
	struct agent_flags *f = malloc(sizeof(*f));
	struct agent_hdr commit;
	struct agent_result res;
	unsigned i = 0;

	*deleted_r = 0;
	if (f == NULL) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	while (i < ad->drop.count) {
		uint32_t n = 0;

		f->first = i;
		for (; i < ad->drop.count && n < AGENT_FLAGS_BATCH; i++, n++) {
			const struct maildrop_msg *m = &ad->drop.msgs[i];

			f->flags[n] = (uint8_t)((m->deleted ?
						 AGENT_FLAG_DELETED : 0) |
						(m->retrieved ?
						 AGENT_FLAG_RETRIEVED : 0));
		}
		agent_proto_flags_len(f, n);
		if (agent_send(ad, f, deadline) < 0)
			break;
	}
	free(f);
	agent_proto_hdr(&commit, AGENT_REQ_COMMIT, sizeof(commit));
	if (i < ad->drop.count || agent_send(ad, &commit, deadline) < 0 ||
	    agent_recv(ad, &res, sizeof(res), AGENT_REP_COMMITTED, 0, 0,
		       deadline, NULL) < 0) {
		*error_r = ad->why;
		return MAILDROP_TEMP;
	}
	if (res.ret != MAILDROP_OK) {
		*error_r = "the mail agent could not apply the session (see "
			   "its log line)";
		return MAILDROP_TEMP;
	}
	*deleted_r = res.count <= ad->drop.count ? res.count : ad->drop.count;
	return MAILDROP_OK;
}

const struct maildrop_driver agent_driver = {
	.open = agent_open_drop,
	.refresh_lock = agent_refresh_lock,
	.reader_open = agent_reader_open,
	.commit = agent_commit,
	.free = agent_free,
};
