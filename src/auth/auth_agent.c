/* auth_agent.c: a granted POP3 login that needs a mail agent (a system
 * user of another uid than mail_user, or every login with mail_process =
 * per-user) waits here for the agent spawner (sysspawn.h) and then goes
 * to the worker with the agent's socket attached (SCM_RIGHTS), so the
 * user the agent serves is always the one this process just
 * authenticated: a worker never names a uid or a path to anyone.
 *
 * The spawner answers its requests in order; the waits are a FIFO. An
 * answer whose worker socket still has a reply queued stays until that
 * went out (one pending reply per slot, auth_slot.c). When the spawner
 * refuses or is gone the reply still says AUTH_OK (the session counts,
 * and its end frees the slot as usual) with agent = AUTH_AGENT_FAILED:
 * the worker answers [SYS/TEMP]. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth_server.h"
#include "auth/pam_proto.h"
#include "auth/sysspawn.h"
#include "net/fdpass.h"
#include "util/log.h"

/* Logins waiting for their agent at most (each holds a reply); more get
 * AUTH_AGENT_FAILED. The spawner forks in well under a millisecond. */
#define AUTH_AGENT_WAIT_MAX 1024

struct auth_agent_wait {
	struct auth_agent_wait *next;
	uint32_t slot;
	uint32_t gen;                 /* srv->slot_gen when it was asked */
	bool answered;
	int fd;                       /* the agent's socket, -1: failed */
	struct auth_reply reply;      /* the header and data_len octets */
};

static struct auth_agent_wait *agent_head, **agent_tail = &agent_head;
static unsigned agent_waits;
static bool agent_spawner_gone;

bool auth_agent_wanted(const struct auth_server *srv, uint32_t slot,
		       const struct auth_reply *reply)
{
	const struct sysspawn_agents *a = sysspawn_agent_settings();

	if (reply->result != AUTH_OK ||
	    srv->slot_kind[slot] != AUTH_SLOT_POP3 || a == NULL)
		return false;
	return a->per_user ||
	       (reply->uid >= 0 && (uid_t)reply->uid != a->mail_uid) ||
	       (reply->gid >= 0 && (gid_t)reply->gid != a->mail_gid);
}

/* Sends a reply whose agent failed (no descriptor). */
static void auth_agent_fail(struct auth_server *srv, uint32_t slot,
			    struct auth_reply *reply)
{
	reply->agent = AUTH_AGENT_FAILED;
	auth_slot_send_fd(srv, slot, reply, -1);
}

void auth_agent_request(struct auth_server *srv, uint32_t slot,
			struct auth_reply *reply)
{
	const struct sysspawn_agents *a = sysspawn_agent_settings();
	struct sysspawn_agent_request req;
	struct auth_agent_wait *w;
	char user_log[AUTH_LOG_USER_MAX];

	log_sanitize(reply->user, strlen(reply->user), user_log,
		     sizeof(user_log));
	if (agent_spawner_gone || agent_waits >= AUTH_AGENT_WAIT_MAX ||
	    strlen(reply->mail_path) >= sizeof(req.path)) {
		log_warn("user=%s: no mail agent (%s)", user_log,
			 agent_spawner_gone ? "the agent spawner is gone" :
			 agent_waits >= AUTH_AGENT_WAIT_MAX ?
			 "too many logins wait for one" :
			 "the maildrop path is too long");
		auth_agent_fail(srv, slot, reply);
		return;
	}
	w = malloc(sizeof(*w));
	if (w == NULL) {
		log_warn("user=%s: no mail agent (out of memory)", user_log);
		auth_agent_fail(srv, slot, reply);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.kind = SYSSPAWN_AGENT;
	req.mail_kind = reply->mail_kind;
	req.uid = reply->uid >= 0 ? reply->uid : (int64_t)a->mail_uid;
	req.gid = reply->gid >= 0 ? reply->gid : (int64_t)a->mail_gid;
	memcpy(req.path, reply->mail_path, strlen(reply->mail_path) + 1);
	if (send(sysspawn_agent_socket(), &req, sizeof(req),
		 MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		log_warn("user=%s: no mail agent (the spawner: %s)", user_log,
			 strerror(errno));
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			agent_spawner_gone = true;
		free(w);
		auth_agent_fail(srv, slot, reply);
		return;
	}
	w->next = NULL;
	w->slot = slot;
	w->gen = srv->slot_gen[slot];
	w->answered = false;
	w->fd = -1;
	memcpy(&w->reply, reply, AUTH_REPLY_HDR + reply->data_len);
	*agent_tail = w;
	agent_tail = &w->next;
	agent_waits++;
}

int auth_agent_fd(void)
{
	return agent_spawner_gone ? -1 : sysspawn_agent_socket();
}

/* The first wait without an answer gets this one. */
static void auth_agent_answer(int fd)
{
	for (struct auth_agent_wait *w = agent_head; w != NULL; w = w->next) {
		if (!w->answered) {
			w->answered = true;
			w->fd = fd;
			return;
		}
	}
	if (fd >= 0)
		close(fd); /* nobody asked: the agent exits */
}

void auth_agent_read(struct auth_server *srv)
{
	for (;;) {
		unsigned char ok = 0;
		int fd = -1;
		ssize_t n = fdpass_recv_flags(sysspawn_agent_socket(), &ok,
					      sizeof(ok), MSG_DONTWAIT, &fd);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR))
			break;
		if (n <= 0) {
			log_error("the agent spawner is gone: logins that "
				  "need a mail agent fail temporarily");
			agent_spawner_gone = true;
			for (struct auth_agent_wait *w = agent_head; w != NULL;
			     w = w->next)
				w->answered = true;
			break;
		}
		if (n != 1 || ok != 1) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			log_warn("the agent spawner could not start a mail "
				 "agent (see its log line)");
		}
		auth_agent_answer(fd);
	}
	auth_agent_flush(srv);
}

void auth_agent_flush(struct auth_server *srv)
{
	struct auth_agent_wait **wp = &agent_head;

	while (*wp != NULL) {
		struct auth_agent_wait *w = *wp;
		bool gone = srv->slot_fd[w->slot] < 0 ||
			    srv->slot_gen[w->slot] != w->gen;

		if (!w->answered || (!gone && srv->pending[w->slot])) {
			wp = &w->next;
			continue;
		}
		if (!gone) {
			if (w->fd < 0)
				w->reply.agent = AUTH_AGENT_FAILED;
			else
				w->reply.agent = AUTH_AGENT_ATTACHED;
			auth_slot_send_fd(srv, w->slot, &w->reply, w->fd);
		}
		/* the worker holds its own reference now (or the agent
		 * exits: its socket's last end is closed here) */
		if (w->fd >= 0)
			close(w->fd);
		*wp = w->next;
		if (agent_tail == &w->next)
			agent_tail = wp;
		agent_waits--;
		explicit_bzero(&w->reply, sizeof(w->reply));
		free(w);
	}
}

void auth_agent_deinit(void)
{
	while (agent_head != NULL) {
		struct auth_agent_wait *w = agent_head;

		agent_head = w->next;
		if (w->fd >= 0)
			close(w->fd);
		free(w);
	}
	agent_tail = &agent_head;
	agent_waits = 0;
}
