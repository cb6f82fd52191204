/* agent.c: the mail agent's loop (see agent.h, agent_proto.h): one
 * request at a time from the worker, dispatched through a table that
 * says in which state each is allowed; anything else ends the agent
 * (the worker then answers [SYS/TEMP]). */
#include "store/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "net/fdpass.h"
#include "store/agent_proto.h"
#include "util/log.h"

enum agent_state { AGENT_FRESH, AGENT_OPEN };

struct agent {
	int fd;
	const struct maildrop_settings *set;
	struct maildrop *drop;        /* AGENT_OPEN */
	enum agent_state state;
	bool done;                    /* exit with ret after this request */
	int ret;
};

/* The largest request; aligned for the structs. */
union agent_request {
	struct agent_hdr hdr;
	struct agent_open open;
	struct agent_index index;
	struct agent_flags flags;
};

static int agent_send(struct agent *a, const void *msg, int fd)
{
	if (fdpass_send(a->fd, msg, agent_proto_len(msg), fd) == 0)
		return 0;
	log_warn("agent: send: %s", strerror(errno));
	return -1;
}

static int agent_send_result(struct agent *a, uint32_t type, int ret,
			     uint32_t count, const char *error, int fd)
{
	struct agent_result r;

	memset(&r, 0, sizeof(r));
	agent_proto_hdr(&r.hdr, type, sizeof(r));
	r.ret = ret;
	r.count = count;
	if (ret != MAILDROP_OK && error != NULL)
		snprintf(r.error, sizeof(r.error), "%s", error);
	return agent_send(a, &r, fd);
}

static int agent_send_msgs(struct agent *a)
{
	unsigned count = maildrop_count(a->drop);
	struct agent_msgs *m = calloc(1, sizeof(*m));
	int ret = 0;

	if (m == NULL)
		return -1;
	for (unsigned i = 0; i < count && ret == 0;) {
		uint32_t n = 0;

		m->first = i;
		for (; i < count && n < AGENT_MSGS_BATCH; i++, n++) {
			const struct maildrop_msg *msg = maildrop_msg(a->drop, i);

			m->e[n].size = msg->size;
			m->e[n].flags = msg->seen ? AGENT_FLAG_SEEN : 0;
			m->e[n].utf8 = msg->utf8;
			m->e[n].wrap_size = msg->wrap_size;
			memcpy(m->e[n].uidl, msg->uidl, sizeof(m->e[n].uidl));
		}
		agent_proto_msgs_len(m, n);
		ret = agent_send(a, m, -1);
	}
	free(m);
	return ret;
}

static int agent_open(struct agent *a, union agent_request *req)
{
	struct maildrop_settings set = *a->set;
	const char *error = NULL;
	int ret;

	set.expire_days = req->open.expire_days;
	set.scan_utf8 = req->open.scan_utf8 != 0;
	ret = maildrop_open(&set, &a->drop, &error);
	if (ret != MAILDROP_OK) {
		log_info("agent: maildrop open failed: %s: %s", set.path,
			 error != NULL ? error : "unknown error");
		/* nothing more to do: the session answers and goes on
		 * without us (a new login gets a new agent) */
		a->done = true;
		a->ret = EX_OK;
		return agent_send_result(a, AGENT_REP_OPENED, ret, 0, error,
					 -1);
	}
	if (maildrop_count(a->drop) > AGENT_MSGS_MAX) {
		log_error("agent: %s: more than %u messages", set.path,
			  AGENT_MSGS_MAX);
		maildrop_close(&a->drop);
		a->done = true;
		a->ret = EX_SOFTWARE;
		return agent_send_result(a, AGENT_REP_OPENED, MAILDROP_TEMP, 0,
					 "too many messages", -1);
	}
	a->state = AGENT_OPEN;
	if (agent_send_result(a, AGENT_REP_OPENED, MAILDROP_OK,
			      maildrop_count(a->drop), NULL, -1) < 0)
		return -1;
	return agent_send_msgs(a);
}

/* A message that has no descriptor of its own (mbox): its bytes as the
 * reader gives them, into a sealed memfd, at most the snapshot's size
 * (the CRLF size bounds the stored one) plus a page. -1 on an error. */
static int agent_copy_message(struct maildrop_reader *reader, uint64_t limit)
{
	char buf[65536];
	uint64_t total = 0;
	ssize_t n;
	int fd = memfd_create("satchel-msg", MFD_CLOEXEC |
					     MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	while ((n = maildrop_reader_read(reader, buf, sizeof(buf))) > 0) {
		total += (uint64_t)n;
		if (total > limit || write(fd, buf, (size_t)n) != n)
			goto out_close;
	}
	if (n < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
				   F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto out_close;
	return fd;

out_close:
	close(fd);
	return -1;
}

static int agent_reader(struct agent *a, union agent_request *req)
{
	struct maildrop_reader *reader = NULL;
	const char *error = "no such message";
	unsigned idx = req->index.idx;
	int ret, fd = -1, copy = -1;

	ret = idx < maildrop_count(a->drop) ?
	      maildrop_reader_open(a->drop, idx, &reader, &error) :
	      MAILDROP_PERM;
	if (ret == MAILDROP_OK) {
		fd = maildrop_reader_fd(reader);
		if (fd < 0) {
			copy = agent_copy_message(
				reader, maildrop_msg(a->drop, idx)->size + 4096);
			fd = copy;
		}
		if (fd < 0) {
			ret = MAILDROP_TEMP;
			error = "cannot copy the message";
		}
	}
	if (ret != MAILDROP_OK)
		log_info("agent: message %u: %s", idx + 1, error);
	ret = agent_send_result(a, AGENT_REP_READER, ret, 0, error, fd);
	/* the worker has its own reference now */
	if (copy >= 0)
		close(copy);
	maildrop_reader_destroy(&reader);
	return ret;
}

static int agent_flags(struct agent *a, union agent_request *req)
{
	/* maildrop_msg() of the first: the snapshot's array (driver.h);
	 * NULL for an empty one, where only an empty run fits */
	if (agent_proto_apply_flags(&req->flags, maildrop_msg(a->drop, 0),
				    maildrop_count(a->drop)) < 0) {
		log_warn("agent: FLAGS outside the maildrop");
		return -1;
	}
	return 0;
}

static int agent_commit(struct agent *a, union agent_request *req)
{
	const char *error = NULL;
	unsigned deleted = 0;
	int ret;

	ret = maildrop_commit(&a->drop, &deleted, &error);
	if (ret != MAILDROP_OK)
		log_error("agent: update failed: %s: %s", a->set->path,
			  error != NULL ? error : "unknown error");
	a->done = true;
	a->ret = EX_OK;
	return agent_send_result(a, AGENT_REP_COMMITTED, ret, deleted, error,
				 -1);
}

static const struct agent_command {
	uint32_t type;
	enum agent_state state;
	int (*handle)(struct agent *a, union agent_request *req);
} agent_commands[] = {
	{ AGENT_REQ_OPEN, AGENT_FRESH, agent_open },
	{ AGENT_REQ_READER, AGENT_OPEN, agent_reader },
	{ AGENT_REQ_FLAGS, AGENT_OPEN, agent_flags },
	{ AGENT_REQ_COMMIT, AGENT_OPEN, agent_commit },
};

/* One request of n octets. 0, or -1 to end the agent. */
static int agent_dispatch(struct agent *a, union agent_request *req,
			  size_t n)
{
	uint32_t type = agent_proto_check_request(req, n);

	for (size_t i = 0; type != 0 && i < sizeof(agent_commands) /
					      sizeof(agent_commands[0]); i++) {
		const struct agent_command *c = &agent_commands[i];

		if (c->type != type)
			continue;
		if (c->state != a->state)
			break;
		return c->handle(a, req);
	}
	log_warn("agent: a malformed or untimely request (type %u, %zu "
		 "octets)", n >= sizeof(req->hdr) ? req->hdr.type : 0, n);
	return -1;
}

/* How long to wait for a request: forever before the open, then until
 * the lock needs its refresh. */
static int agent_timeout_ms(const struct agent *a)
{
	unsigned secs = a->set->lock_stale_secs / 3;

	if (a->state != AGENT_OPEN)
		return -1;
	return (int)(secs > 0 ? secs : 1) * 1000;
}

int agent_serve(int fd, const struct maildrop_settings *set)
{
	union agent_request *req = malloc(sizeof(*req));
	struct agent a = { .fd = fd, .set = set, .ret = EX_PROTOCOL };

	if (req == NULL) {
		log_error("agent: out of memory");
		return EX_TEMPFAIL;
	}
	while (!a.done) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, agent_timeout_ms(&a));

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (maildrop_refresh_lock(a.drop) != MAILDROP_OK) {
				log_error("agent: lost the session lock of %s",
					  set->path);
				a.ret = EX_TEMPFAIL;
				break;
			}
			continue;
		}
		n = recv(fd, req, sizeof(*req), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			a.ret = EX_OK; /* the session ended: change nothing */
			break;
		}
		if (n < 0 || (size_t)n > sizeof(*req) ||
		    agent_dispatch(&a, req, (size_t)n) < 0)
			break;
	}
	maildrop_close(&a.drop);
	free(req);
	return a.ret;
}
