/* cmd_xtnd.c: XTND XMIT (see cmd_xtnd.h): receiving the message, the
 * sender and size checks, and the relay job. */
#include "serve/cmd_xtnd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/linereader.h"
#include "serve/limits.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "serve/xmit_msg.h"
#include "serve/xmit_relay.h"
#include "serve/xmitrate.h"
#include "util/jobpool.h"
#include "util/log.h"

/* A message being received. */
struct xmit {
	char *buf;
	size_t len, cap;
	const char *refused;      /* set: the -ERR for the end */
	char refused_buf[96];
};

struct xmit_job {
	struct jobpool_job job;   /* first: the pool's link */
	struct session *session;  /* NULL once the session is gone */
	struct xmit_relay_settings set;
	char sender[XMIT_ADDR_MAX + 1];
	char user[AUTH_USER_MAX], addr[AUTH_ADDR_MAX]; /* rip= in logs */
	struct xmit_addrs rcpts;
	char *msg;
	size_t len;
	int ret;
	char reason[200];
};

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

/* XTND XMIT carries a message from the user: only where nobody can read
 * or alter it on the way (TLS), or from this machine. */
static bool xmit_usable(const struct session *s)
{
	return cfg_of(s)->xtnd_xmit && (s->secured || s->loopback);
}

void cmd_xtnd_capa(struct session *s)
{
	if (xmit_usable(s))
		session_reply_line(s, "XTND XMIT");
}

static void xmit_free(struct xmit **xp)
{
	if (*xp == NULL)
		return;
	free((*xp)->buf);
	free(*xp);
	*xp = NULL;
}

static void xmit_end(struct session *s)
{
	xmit_free(&s->xmit);
	/* back to the command limit (cmd_auth.c does the same) */
	(void)linereader_set_limit(&s->in, cfg_of(s)->max_line < LINEREADER_BUF
				   ? cfg_of(s)->max_line : LINEREADER_BUF);
}

static void xmit_refuse(struct xmit *x, const char *reply)
{
	if (x->refused == NULL)
		x->refused = reply;
}

static enum cmd_outcome cmd_xtnd_xmit(struct session *s)
{
	if (!cfg_of(s)->xtnd_xmit) {
		session_reply(s, "-ERR XTND XMIT is not enabled on this "
			      "server");
		return CMD_DONE;
	}
	if (!xmit_usable(s)) {
		session_reply(s, "-ERR XTND XMIT needs a TLS connection");
		return CMD_DONE;
	}
	s->xmit = calloc(1, sizeof(*s->xmit));
	if (s->xmit == NULL ||
	    linereader_set_limit(&s->in, XMIT_LINE_MAX) < 0) {
		xmit_free(&s->xmit);
		session_reply(s, "-ERR [SYS/TEMP] out of memory, try again "
			      "later");
		return CMD_DONE;
	}
	session_reply(s, "+OK Start sending message.");
	return CMD_DONE;
}

static const struct {
	const char *name;
	enum cmd_outcome (*handler)(struct session *s);
} xtnd_table[] = {
	{ "XMIT", cmd_xtnd_xmit },
};

enum cmd_outcome cmd_xtnd(struct session *s, const struct cmd_args *args)
{
	if (args->argc == 0) {
		session_reply(s, "-ERR XTND needs a subcommand; this server "
			      "has XMIT only");
		return CMD_BAD;
	}
	for (size_t i = 0; i < sizeof(xtnd_table) / sizeof(xtnd_table[0]);
	     i++) {
		if (strcasecmp(args->argv[0], xtnd_table[i].name) == 0) {
			if (args->argc > 1) {
				session_reply(s, "-ERR too many arguments "
					      "for XTND %s",
					      xtnd_table[i].name);
				return CMD_BAD;
			}
			return xtnd_table[i].handler(s);
		}
	}
	/* RFC 1082's BBOARDS, qpopper's XLST, STATS, ...: not here */
	session_reply(s, "-ERR unknown XTND subcommand; this server has "
		      "XMIT only");
	return CMD_BAD;
}

static int xmit_append(struct xmit *x, const char *data, size_t len)
{
	if (x->len + len > x->cap) {
		size_t cap = x->cap == 0 ? 16384 : x->cap;
		char *buf;

		while (cap < x->len + len)
			cap *= 2;
		buf = realloc(x->buf, cap);
		if (buf == NULL)
			return -1;
		x->buf = buf;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	return 0;
}

void cmd_xtnd_too_long(struct session *s)
{
	xmit_refuse(s->xmit, "-ERR message line too long");
}

/* --- the relay, on the relay pool --- */

static void xmit_job_run(struct jobpool_job *job)
{
	struct xmit_job *j = (struct xmit_job *)job;

	j->ret = xmit_relay_send(&j->set, j->sender, &j->rcpts, j->msg,
				 j->len, j->reason, sizeof(j->reason));
}

static void xmit_job_done(struct jobpool_job *job)
{
	struct xmit_job *j = (struct xmit_job *)job;
	struct session *s = j->session;
	const char *relay = j->set.host[0] != '\0' ? j->set.host
						    : j->set.sendmail;

	if (j->ret == XMIT_RELAY_OK)
		log_info("xmit: user=%s rip=%s from=<%s> rcpts=%u size=%zu "
			 "relay=%s: sent", j->user, j->addr, j->sender,
			 j->rcpts.count, j->len, relay);
	else
		log_warn("xmit: user=%s rip=%s from=<%s> rcpts=%u size=%zu "
			 "relay=%s: not sent: %s", j->user, j->addr,
			 j->sender, j->rcpts.count, j->len, relay, j->reason);
	if (s != NULL) {
		s->xmit_job = NULL;
		if (j->ret == XMIT_RELAY_OK)
			session_reply(s, "+OK Message sent");
		else
			session_reply(s, "-ERR %s%s",
				      j->ret == XMIT_RELAY_TEMP ?
				      "[SYS/TEMP] " : "", j->reason);
	}
	free(j->msg);
	free(j);
	if (s != NULL)
		session_resume(s);
}

/* --- the end of the message, on the loop --- */

static void xmit_sender(const struct session *s, char *buf, size_t size)
{
	const char *domain = cfg_of(s)->xtnd_xmit_domain[0] != '\0' ?
			     cfg_of(s)->xtnd_xmit_domain : s->worker->hostname;

	int n;

	if (strchr(s->user, '@') != NULL)
		n = snprintf(buf, size, "%s", s->user);
	else
		n = snprintf(buf, size, "%s@%s", s->user, domain);
	if (n < 0 || (size_t)n >= size)
		buf[0] = '\0'; /* too long: not a valid address */
}

static void xmit_relay_settings_fill(const struct session *s,
				     struct xmit_relay_settings *set)
{
	const struct config *cfg = cfg_of(s);

	/* checked by config_finish: host:port or "" */
	if (cfg->xtnd_xmit_relay[0] == '\0' ||
	    listener_parse_addr(cfg->xtnd_xmit_relay, set->host,
				sizeof(set->host), set->port,
				sizeof(set->port)) < 0)
		set->host[0] = '\0';
	snprintf(set->sendmail, sizeof(set->sendmail), "%s",
		 cfg->xtnd_xmit_sendmail);
	snprintf(set->helo, sizeof(set->helo), "%s", s->worker->hostname);
	set->timeout_secs = cfg->xtnd_xmit_timeout;
}

/* Checks the message and starts the relay, or queues the -ERR. */
static enum cmd_outcome xmit_finish(struct session *s, struct xmit *x)
{
	const struct config *cfg = cfg_of(s);
	struct xmit_addrs *from = NULL;
	struct xmit_job *j = NULL;
	const char *error = NULL;

	j = calloc(1, sizeof(*j));
	from = malloc(sizeof(*from));
	if (j == NULL || from == NULL ||
	    (j->msg = malloc(x->len + 1)) == NULL) {
		error = "-ERR [SYS/TEMP] out of memory, try again later";
		goto out_refuse;
	}
	xmit_sender(s, j->sender, sizeof(j->sender));
	if (!xmit_addr_valid(j->sender)) {
		error = "-ERR [SYS/PERM] your login name is not a mail "
			"address";
		goto out_refuse;
	}
	if (xmit_msg_parse(x->buf, x->len, from, &j->rcpts, j->msg, &j->len,
			   &error) < 0)
		goto out_refuse;
	if (from->count == 0) {
		error = "-ERR the message has no From: field";
		goto out_refuse;
	}
	for (unsigned i = 0; i < from->count && !cfg->xtnd_xmit_any_from;
	     i++) {
		if (!xmit_addr_equal(from->addr[i], j->sender)) {
			log_warn("xmit refused: user=%s rip=%s: From:/Sender: "
				 "<%s> is not <%s>", s->user, s->log_client,
				 from->addr[i], j->sender);
			error = "-ERR From: and Sender: must be your own "
				"address";
			goto out_refuse;
		}
	}
	if (j->rcpts.count == 0) {
		error = "-ERR no recipients (To:, Cc: or Bcc:)";
		goto out_refuse;
	}
	if (!xmitrate_take(s->worker->xmitrate, s->user, cfg->xtnd_xmit_rate)) {
		log_warn("xmit refused: user=%s rip=%s: more than %u messages "
			 "in an hour", s->user, s->log_client,
			 cfg->xtnd_xmit_rate);
		error = "-ERR [SYS/TEMP] too many messages sent, try again "
			"later";
		goto out_refuse;
	}
	free(from);
	xmit_relay_settings_fill(s, &j->set);
	snprintf(j->user, sizeof(j->user), "%s", s->user);
	snprintf(j->addr, sizeof(j->addr), "%s", s->log_client);
	j->job.run = xmit_job_run;
	j->job.done = xmit_job_done;
	j->session = s;
	s->xmit_job = j;
	s->waiting = true;
	jobpool_submit(s->worker->relay_jobs, &j->job);
	return CMD_WAIT;
out_refuse:
	if (j != NULL)
		free(j->msg);
	free(j);
	free(from);
	session_reply(s, "%s", error);
	return CMD_DONE;
}

enum cmd_outcome cmd_xtnd_line(struct session *s, char *line, size_t len)
{
	struct xmit *x = s->xmit;
	uint64_t max = cfg_of(s)->xtnd_xmit_max_size;

	if (len == 1 && line[0] == '.') {
		enum cmd_outcome outcome;

		s->xmit = NULL;
		xmit_end(s);
		if (x->refused != NULL) {
			session_reply(s, "%s", x->refused);
			outcome = CMD_DONE;
		} else {
			outcome = xmit_finish(s, x);
		}
		xmit_free(&x);
		return outcome;
	}
	/* RFC 1939 3.: the client stuffed lines that begin with "." */
	if (line[0] == '.') {
		line++;
		len--;
	}
	if (s->in.nul_seen)
		xmit_refuse(x, "-ERR NUL in the message");
	if (x->refused != NULL)
		return CMD_DONE; /* read to the end, keep nothing */
	if (max > 0 && x->len + len + 2 > max) {
		snprintf(x->refused_buf, sizeof(x->refused_buf),
			 "-ERR message larger than %llu octets",
			 (unsigned long long)max);
		xmit_refuse(x, x->refused_buf);
		return CMD_DONE;
	}
	if (xmit_append(x, line, len) < 0 || xmit_append(x, "\r\n", 2) < 0)
		xmit_refuse(x, "-ERR [SYS/TEMP] out of memory, try again "
			    "later");
	return CMD_DONE;
}

void cmd_xtnd_detach(struct session *s)
{
	xmit_free(&s->xmit);
	if (s->xmit_job != NULL) {
		s->xmit_job->session = NULL;
		s->xmit_job = NULL;
	}
}
