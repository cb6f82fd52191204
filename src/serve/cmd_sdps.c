/* cmd_sdps.c: SDPS's *ENV (cmd_sdps.h). */
#include "serve/cmd_sdps.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "serve/commands.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "store/envelope.h"
#include "util/log.h"

static bool sdps_here(const struct session *s)
{
	return config_sdps_on(s->worker->cfg,
			      s->state == STATE_TRANSACTION ? s->user : NULL);
}

void cmd_sdps_capa(struct session *s)
{
	if (sdps_here(s))
		session_reply_line(s, "SDPS");
}

/* The first ENVELOPE_HEAD_MAX octets of message index (fewer when it is
 * shorter) into buf. Their length, or -1 with the error logged. Read on
 * the loop as RETR's chunks are: one small read of a file just found. */
static ssize_t sdps_head(struct session *s, unsigned index, char *buf,
			 size_t size)
{
	struct maildrop_reader *reader = NULL;
	const char *error = "cannot read the message";
	size_t used = 0;
	ssize_t got = 0;

	if (maildrop_reader_open(s->drop, index, &reader, &error) !=
	    MAILDROP_OK) {
		log_error("user=%s session=%s *ENV %u: %s", s->user, s->id,
			  index + 1, error);
		return -1;
	}
	while (used < size &&
	       (got = maildrop_reader_read(reader, buf + used,
					   size - used)) > 0)
		used += (size_t)got;
	maildrop_reader_destroy(&reader);
	if (got < 0) {
		log_error("user=%s session=%s *ENV %u: read failed", s->user,
			  s->id, index + 1);
		return -1;
	}
	return (ssize_t)used;
}

/* Where a delivery recorded no recipient: the account itself. */
static void sdps_account(const struct session *s,
			 char rcpt[ENVELOPE_ADDR_MAX + 1])
{
	int n;

	if (strchr(s->user, '@') != NULL)
		n = snprintf(rcpt, ENVELOPE_ADDR_MAX + 1, "%s", s->user);
	else
		n = snprintf(rcpt, ENVELOPE_ADDR_MAX + 1, "%s@%s", s->user,
			     s->worker->cfg->hostname);
	if (n < 0 || n > ENVELOPE_ADDR_MAX || !envelope_addr_valid(rcpt))
		snprintf(rcpt, ENVELOPE_ADDR_MAX + 1, "postmaster");
}

enum cmd_outcome cmd_sdps_env(struct session *s, const struct cmd_args *args)
{
	char head[ENVELOPE_HEAD_MAX];
	struct envelope env;
	unsigned index;
	ssize_t len;

	if (!sdps_here(s)) {
		session_reply(s, "-ERR SDPS is not enabled for this user");
		return CMD_DONE;
	}
	if (commands_msg_number(s, args->argv[0], &index) < 0)
		return CMD_DONE;
	len = sdps_head(s, index, head, sizeof(head));
	if (len < 0) {
		session_reply(s, "-ERR [SYS/TEMP] cannot read message %u",
			      index + 1);
		return CMD_DONE;
	}
	envelope_parse(head, (size_t)len, &env);
	if (!env.have_rcpt)
		sdps_account(s, env.rcpt);
	/* an unknown sender is told as the null one: the clients know no
	 * other way to say "none", and a bounce to a guessed address
	 * would be worse */
	session_reply(s, "+OK envelope follows");
	session_reply_line(s, "%s", s->user);
	session_reply_line(s, "%s", maildrop_msg(s->drop, index)->uidl);
	session_reply_line(s, "%s", env.sender);
	session_reply_line(s, "%s", env.rcpt);
	session_reply_line(s, ".");
	return CMD_DONE;
}
