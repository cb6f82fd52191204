/* lmtp_cmd.c: one handler per LMTP command (RFC 2033, RFC 5321 4.1) and
 * the table that dispatches them. Wrong state and wrong argument count
 * are answered before a handler runs; each handler queues exactly one
 * reply (or, for RCPT, starts the lookup whose answer is the reply; for
 * DATA and BDAT, enters data mode) and returns an outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "util/log.h"

#define STATES_ANY (LMTP_STATE_INIT | LMTP_STATE_READY | LMTP_STATE_MAIL | \
		    LMTP_STATE_RCPT | LMTP_STATE_BDAT)
#define STATES_TXN (LMTP_STATE_MAIL | LMTP_STATE_RCPT)
/* Not a state, a flag in the states field: the command is unknown on
 * loopback and unix sockets (lmtp_auth.c). */
#define REMOTE_ONLY 0x10000u

typedef enum lmtp_cmd_outcome lmtp_cmd_handler(struct lmtp_session *s,
					       struct lmtp_args *args);

struct lmtp_command {
	const char *name;
	unsigned states;            /* enum lmtp_state bits */
	unsigned min_args, max_args;
	const char *syntax;         /* for 501 on a wrong argument count */
	lmtp_cmd_handler *handler;
};

/* RFC 2033 4.1: LHLO replaces HELO and EHLO; the capabilities come from
 * the config, so they cannot lie (SIZE is the real limit, RFC 1870). */
static enum lmtp_cmd_outcome cmd_lhlo(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	const struct lmtp_server *srv = s->srv;

	lmtp_session_reset(s);
	s->state = LMTP_STATE_READY;
	lmtp_session_reply(s, "250-%s", srv->hostname);
	lmtp_session_reply(s, "250-PIPELINING");
	lmtp_session_reply(s, "250-ENHANCEDSTATUSCODES");
	lmtp_session_reply(s, "250-8BITMIME");
	lmtp_session_reply(s, "250-SIZE %u", srv->cfg->lmtp_max_message_size);
	lmtp_session_reply(s, "250-SMTPUTF8");
	lmtp_session_reply(s, "250-CHUNKING");
	lmtp_auth_lhlo(s);
	lmtp_session_reply(s, "250 DSN");
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_helo(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	/* RFC 2033 4.1: an LMTP server must not accept HELO or EHLO */
	lmtp_session_reply(s, "500 5.5.1 This is LMTP: use LHLO");
	return LMTP_CMD_BAD;
}

static enum lmtp_cmd_outcome cmd_mail(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	const char *reply;

	if (lmtp_auth_required(s)) {
		/* RFC 4954 6.: a remote client authenticates first */
		lmtp_session_reply(s, "530 5.7.0 Authentication required");
		return LMTP_CMD_BAD;
	}
	if (lmtp_parse_mail(args, s->srv->cfg->lmtp_max_message_size,
			    &s->mail, &reply) < 0) {
		lmtp_session_reply(s, "%s", reply);
		return LMTP_CMD_BAD;
	}
	s->state = LMTP_STATE_MAIL;
	s->nrcpts = 0;
	lmtp_session_reply(s, "250 2.1.0 Sender OK");
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_rcpt(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	struct lmtp_rcpt_args ra;
	const char *reply;

	if (lmtp_parse_rcpt(args, &ra, &reply) < 0) {
		lmtp_session_reply(s, "%s", reply);
		return LMTP_CMD_BAD;
	}
	if (s->nrcpts >= LMTP_RCPTS_MAX) {
		/* RFC 5321 4.5.3.1.10 */
		lmtp_session_reply(s, "452 4.5.3 Too many recipients");
		return LMTP_CMD_DONE;
	}
	memset(&s->pending, 0, sizeof(s->pending));
	snprintf(s->pending.address, sizeof(s->pending.address), "%s",
		 ra.address);
	snprintf(s->pending.orcpt, sizeof(s->pending.orcpt), "%s", ra.orcpt);
	if (s->srv->ops->lookup(s->srv, s, ra.address) < 0) {
		lmtp_session_reply(s, "451 4.3.0 <%s>: user lookup "
				   "unavailable", ra.address);
		return LMTP_CMD_DONE;
	}
	s->lookup_pending = true;
	s->waiting = true;
	lmtp_session_rcpt_timer(s);
	return LMTP_CMD_WAIT;
}

void lmtp_cmd_rcpt_accept(struct lmtp_session *s)
{
	if (s->nrcpts == s->cap_rcpts) {
		unsigned cap = s->cap_rcpts == 0 ? 4 : s->cap_rcpts * 2;
		struct lmtp_rcpt *r = realloc(s->rcpts, cap * sizeof(*r));

		if (r == NULL) {
			lmtp_session_reply(s, "452 4.3.0 Out of memory");
			return;
		}
		s->rcpts = r;
		s->cap_rcpts = cap;
	}
	s->rcpts[s->nrcpts++] = s->pending;
	if (s->state == LMTP_STATE_MAIL)
		s->state = LMTP_STATE_RCPT;
	lmtp_session_reply(s, "250 2.1.5 <%s> OK", s->pending.address);
}

static enum lmtp_cmd_outcome cmd_data(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	if (s->nrcpts == 0) {
		/* RFC 2033 4.2: DATA without a good recipient gets 503 */
		lmtp_session_reply(s, "503 5.5.1 No valid recipients");
		return LMTP_CMD_BAD;
	}
	if (lmtp_spool_begin(s) < 0) {
		lmtp_session_reply(s, "451 4.3.0 Cannot spool the message");
		return LMTP_CMD_DONE;
	}
	lmtp_dot_init(&s->dot);
	s->input = LMTP_INPUT_DATA;
	lmtp_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	return LMTP_CMD_DONE;
}

/* RFC 3030 2.: a BDAT's chunk is read even when the command is refused
 * (the octets must not be taken for commands), and answered after. */
static enum lmtp_cmd_outcome cmd_bdat(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	const char *reply;
	uint64_t size;
	bool last;

	if (lmtp_parse_bdat(args, &size, &last, &reply) < 0) {
		lmtp_session_reply(s, "%s", reply);
		return LMTP_CMD_BAD;
	}
	s->input = LMTP_INPUT_CHUNK;
	s->chunk_left = size;
	s->chunk_last = last;
	s->chunk_reply = NULL;
	if ((s->state & (LMTP_STATE_RCPT | LMTP_STATE_BDAT)) == 0) {
		s->chunk_reply = s->state & LMTP_STATE_MAIL ?
			"503 5.5.1 No valid recipients" :
			"503 5.5.1 Bad sequence of commands";
		return LMTP_CMD_DONE;
	}
	if (s->state == LMTP_STATE_RCPT) {
		if (lmtp_spool_begin(s) < 0)
			s->data_error = "451 4.3.0 Cannot spool the message";
		s->state = LMTP_STATE_BDAT;
	}
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_rset(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	lmtp_session_reset(s);
	lmtp_session_reply(s, "250 2.0.0 OK");
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_noop(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	lmtp_session_reply(s, "250 2.0.0 OK");
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_vrfy(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	/* RFC 5321 3.5.3: 252 when we neither verify nor refuse */
	lmtp_session_reply(s, "252 2.5.0 Cannot VRFY user, but will accept "
			   "message and attempt delivery");
	return LMTP_CMD_DONE;
}

static enum lmtp_cmd_outcome cmd_quit(struct lmtp_session *s,
				      struct lmtp_args *args)
{
	lmtp_session_reply(s, "221 2.0.0 %s closing connection",
			   s->srv->hostname);
	s->end_reason = "quit";
	return LMTP_CMD_CLOSE;
}

static const struct lmtp_command lmtp_commands[] = {
	{ "LHLO", STATES_ANY & ~LMTP_STATE_BDAT, 1, 1, "LHLO domain",
	  cmd_lhlo },
	{ "HELO", STATES_ANY, 0, LMTP_ARGS_MAX, "", cmd_helo },
	{ "EHLO", STATES_ANY, 0, LMTP_ARGS_MAX, "", cmd_helo },
	{ "MAIL", LMTP_STATE_READY, 1, LMTP_ARGS_MAX,
	  "MAIL FROM:<address> [parameters]", cmd_mail },
	{ "RCPT", STATES_TXN, 1, LMTP_ARGS_MAX,
	  "RCPT TO:<address> [parameters]", cmd_rcpt },
	{ "DATA", STATES_TXN, 0, 0, "DATA", cmd_data },
	{ "BDAT", STATES_ANY, 1, 2, "BDAT size [LAST]", cmd_bdat },
	{ "RSET", STATES_ANY, 0, 0, "RSET", cmd_rset },
	{ "NOOP", STATES_ANY, 0, LMTP_ARGS_MAX, "NOOP", cmd_noop },
	{ "VRFY", STATES_ANY, 1, LMTP_ARGS_MAX, "VRFY address", cmd_vrfy },
	{ "QUIT", STATES_ANY, 0, 0, "QUIT", cmd_quit },
	/* RFC 3207 and RFC 4954, outside a transaction (RFC 4954 4.) */
	{ "STARTTLS", LMTP_STATE_READY | REMOTE_ONLY, 0, 0, "STARTTLS",
	  lmtp_auth_cmd_starttls },
	{ "AUTH", LMTP_STATE_READY | REMOTE_ONLY, 1, 2,
	  "AUTH mechanism [initial-response]", lmtp_auth_cmd_auth },
};

#define N_COMMANDS (sizeof(lmtp_commands) / sizeof(lmtp_commands[0]))

/* RFC 5321 4.3.2 / RFC 3463 5.5.1: 503 says what was out of order. */
static const char *wrong_state_reply(const struct lmtp_command *cmd,
				     unsigned state)
{
	if (state == LMTP_STATE_INIT)
		return "503 5.5.1 Send LHLO first";
	if (state == LMTP_STATE_BDAT)
		return "503 5.5.1 Only BDAT, RSET, NOOP or QUIT after a "
		       "BDAT chunk";
	if (strcmp(cmd->name, "MAIL") == 0)
		return "503 5.5.1 Nested MAIL command";
	if (state == LMTP_STATE_READY)
		return "503 5.5.1 Need MAIL command";
	return "503 5.5.1 Bad sequence of commands";
}

enum lmtp_cmd_outcome lmtp_cmd_dispatch(struct lmtp_session *s, char *line)
{
	const struct lmtp_command *cmd = NULL;
	struct lmtp_args args;

	if (lmtp_parse_line(line, &args) == 0) {
		for (size_t i = 0; i < N_COMMANDS; i++) {
			if (strcasecmp(lmtp_commands[i].name,
				       args.verb) == 0) {
				cmd = &lmtp_commands[i];
				break;
			}
		}
	}
	if (cmd == NULL || ((cmd->states & REMOTE_ONLY) && !s->remote)) {
		/* loopback and unix sockets are trusted like the local
		 * MTA itself: STARTTLS and AUTH are not offered there */
		lmtp_session_reply(s, "500 5.5.2 Command not recognized");
		return LMTP_CMD_BAD;
	}
	if ((cmd->states & s->state) == 0) {
		lmtp_session_reply(s, "%s", wrong_state_reply(cmd, s->state));
		return LMTP_CMD_BAD;
	}
	if (args.argc < cmd->min_args || args.argc > cmd->max_args) {
		lmtp_session_reply(s, "501 5.5.4 Syntax: %s", cmd->syntax);
		return LMTP_CMD_BAD;
	}
	return cmd->handler(s, &args);
}
