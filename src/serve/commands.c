/* commands.c: one handler per POP3 command and the table that dispatches
 * them. Handlers queue exactly one reply (or start a long one) and return
 * an outcome; session.c writes and sequences everything. */
#include "serve/commands.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "serve/cmd_auth.h"
#include "serve/cmd_sdps.h"
#include "serve/cmd_utf8.h"
#include "serve/cmd_xtnd.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "serve/session_kpop.h"
#include "serve/session_proxy.h"
#include "serve/worker.h"
#include "util/log.h"
#include "util/strnum.h"

#define BOTH_STATES (STATE_AUTHORIZATION | STATE_TRANSACTION)

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

/* RFC 1939 3.: a message number refers to a message not marked deleted;
 * one checked helper turns the argument into a 0-based index. */
int commands_msg_number(struct session *s, const char *arg,
			unsigned *index_r)
{
	uint64_t num;

	if (strnum_parse_u64(arg, UINT32_MAX, &num) < 0) {
		session_reply(s, "-ERR invalid message number");
		return -1;
	}
	if (num == 0 || num > maildrop_count(s->drop)) {
		session_reply(s, "-ERR no such message");
		return -1;
	}
	if (maildrop_msg(s->drop, (unsigned)num - 1)->deleted) {
		session_reply(s, "-ERR message %llu already deleted",
			      (unsigned long long)num);
		return -1;
	}
	*index_r = (unsigned)num - 1;
	return 0;
}

static void drop_totals(struct session *s, unsigned *count_r,
			uint64_t *octets_r)
{
	unsigned n = maildrop_count(s->drop), count = 0;
	uint64_t octets = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct maildrop_msg *msg = maildrop_msg(s->drop, i);

		if (!msg->deleted) {
			count++;
			octets += session_msg_size(s, i);
		}
	}
	*count_r = count;
	*octets_r = octets;
}

/* --- AUTHORIZATION --- */

static bool user_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > USER_NAME_MAX)
		return false;
	for (; *name != '\0'; name++) {
		if ((unsigned char)*name < 0x21 || *name == 0x7f)
			return false;
	}
	return true;
}

static enum cmd_outcome cmd_user(struct session *s,
				 const struct cmd_args *args)
{
	if (!session_plaintext_allowed(s)) {
		session_reply(s, "-ERR [AUTH] plaintext authentication is not "
			      "allowed on this connection; use STLS first");
		return CMD_DONE;
	}
	if (!user_name_valid(args->argv[0]) ||
	    cmd_utf8_prep(s, args->argv[0], strlen(args->argv[0]), s->user,
			  sizeof(s->user)) < 0) {
		s->have_user = false;
		session_reply(s, "-ERR invalid user name");
		return CMD_BAD;
	}
	s->have_user = true;
	/* The same answer for every name: USER must not reveal who exists. */
	session_reply(s, "+OK send PASS");
	return CMD_DONE;
}

static enum cmd_outcome send_auth(struct session *s, struct auth_request *req)
{
	snprintf(req->client_addr, sizeof(req->client_addr), "%s",
		 s->log_client);
	req->secured = s->secured || s->loopback;
	req->via_proxy = s->via_proxy;
	if (worker_auth_send(s->worker, s, req) < 0) {
		explicit_bzero(req, sizeof(*req));
		session_reply(s, "-ERR [SYS/TEMP] authentication service "
			      "unavailable, try again later");
		return CMD_DONE;
	}
	explicit_bzero(req, sizeof(*req));
	s->waiting = true;
	return CMD_WAIT;
}

static enum cmd_outcome cmd_pass(struct session *s,
				 const struct cmd_args *args)
{
	struct auth_request req;

	if (!s->have_user) {
		session_reply(s, "-ERR send USER first");
		return CMD_DONE;
	}
	/* KPOP: the ticket is the credential, PASS's text is not one */
	if (s->kpop != NULL)
		return session_kpop_pass(s);
	if (!session_plaintext_allowed(s)) {
		session_reply(s, "-ERR [AUTH] plaintext authentication is not "
			      "allowed on this connection; use STLS first");
		return CMD_DONE;
	}
	memset(&req, 0, sizeof(req));
	/* RFC 6856 3.: in UTF-8 mode the password is UTF-8, SASLprep'd */
	if (cmd_utf8_prep(s, args->argv[0], strlen(args->argv[0]), req.secret,
			  sizeof(req.secret)) < 0) {
		explicit_bzero(&req, sizeof(req));
		s->have_user = false;
		session_reply(s, "-ERR [AUTH] invalid user name or password");
		return CMD_DONE;
	}
	req.type = AUTH_REQ_PASS;
	/* a USER sent before UTF8 is prepared now, as the password is */
	if (cmd_utf8_prep(s, s->user, strlen(s->user), req.user,
			  sizeof(req.user)) < 0) {
		explicit_bzero(&req, sizeof(req));
		s->have_user = false;
		session_reply(s, "-ERR [AUTH] invalid user name or password");
		return CMD_DONE;
	}
	s->login_mech = METRICS_MECH_USER;
	/* proxy mode logs in at the backend with the same password (as
	 * prepared: the backend is sent no UTF8) */
	if (cfg_of(s)->proxy &&
	    session_keep_secret(s, req.secret, strlen(req.secret)) < 0) {
		explicit_bzero(&req, sizeof(req));
		s->have_user = false;
		session_reply(s, "-ERR [SYS/TEMP] out of memory, try again "
			      "later");
		return CMD_DONE;
	}
	return send_auth(s, &req);
}

static bool apop_digest_valid(const char *digest)
{
	if (strlen(digest) != 32)
		return false;
	for (; *digest != '\0'; digest++) {
		if (!isxdigit((unsigned char)*digest))
			return false;
	}
	return true;
}

static enum cmd_outcome cmd_apop(struct session *s,
				 const struct cmd_args *args)
{
	struct auth_request req;

	if (!cfg_of(s)->auth.apop) {
		session_reply(s, "-ERR APOP is not enabled on this server");
		return CMD_DONE;
	}
	if (!user_name_valid(args->argv[0]) ||
	    !apop_digest_valid(args->argv[1])) {
		session_reply(s, "-ERR [AUTH] invalid user name or password");
		return CMD_DONE;
	}
	memset(&req, 0, sizeof(req));
	if (cmd_utf8_prep(s, args->argv[0], strlen(args->argv[0]), req.user,
			  sizeof(req.user)) < 0) {
		session_reply(s, "-ERR [AUTH] invalid user name or password");
		return CMD_DONE;
	}
	req.type = AUTH_REQ_APOP;
	s->login_mech = METRICS_MECH_APOP;
	snprintf(req.secret, sizeof(req.secret), "%s", args->argv[1]);
	snprintf(req.timestamp, sizeof(req.timestamp), "%s", s->timestamp);
	snprintf(s->user, sizeof(s->user), "%s", req.user);
	return send_auth(s, &req);
}

/* RFC 2595 4.: STLS only before login, only without TLS already. */
static enum cmd_outcome cmd_stls(struct session *s,
				 const struct cmd_args *args)
{
	if (s->worker->tls == NULL) {
		session_reply(s, "-ERR STLS is not available on this server");
		return CMD_DONE;
	}
	if (s->secured) {
		session_reply(s, "-ERR the connection is already encrypted");
		return CMD_DONE;
	}
	/* RFC 6856 (issue 12, 1.): UTF8 comes after any STLS */
	if (s->utf8) {
		session_reply(s, "-ERR STLS is not allowed after UTF8");
		return CMD_DONE;
	}
	session_reply(s, "+OK begin TLS negotiation");
	session_start_tls(s);
	return CMD_DONE;
}

/* RFC 2449 section 5: CAPA in both states. Every line is true for this
 * connection now: USER only where plaintext passwords are allowed, the
 * per-user EXPIRE and LOGIN-DELAY values after login, "USER" suffixes
 * before login (RFC 2449 6.5, 6.7: the value may differ per user). */
static enum cmd_outcome cmd_capa(struct session *s,
				 const struct cmd_args *args)
{
	const struct config *cfg = cfg_of(s);
	bool before_login = s->state == STATE_AUTHORIZATION;
	int expire = before_login ? cfg->expire_days : s->expire_days;
	unsigned delay = before_login ? cfg->auth.login_delay : s->login_delay;
	const char *user_suffix = before_login ? " USER" : "";

	/* proxy mode before login: the backends' own capabilities only
	 * where they all have them (session_proxy.h); after login the
	 * backend answers CAPA itself */
	bool (*offered)(const struct session *, const char *) =
		session_proxy_capa_offered;

	session_reply(s, "+OK capability list follows");
	if (offered(s, "TOP"))
		session_reply_line(s, "TOP");
	if (before_login && !s->secured && s->worker->tls != NULL &&
	    !s->utf8)
		session_reply_line(s, "STLS");
	if (before_login && session_plaintext_allowed(s))
		session_reply_line(s, "USER");
	if (offered(s, "UIDL"))
		session_reply_line(s, "UIDL");
	if (offered(s, "RESP-CODES"))
		session_reply_line(s, "RESP-CODES");
	session_reply_line(s, "AUTH-RESP-CODE");
	cmd_auth_capa(s);
	if (offered(s, "XTND"))
		cmd_xtnd_capa(s);
	if (offered(s, "SDPS"))
		cmd_sdps_capa(s);
	if (offered(s, "PIPELINING"))
		session_reply_line(s, "PIPELINING");
	cmd_utf8_capa(s);
	/* proxy mode: the backend's values, not ours (after login the
	 * backend answers CAPA itself) */
	if (cfg->proxy)
		;
	else if (expire < 0)
		session_reply_line(s, "EXPIRE NEVER%s", user_suffix);
	else
		session_reply_line(s, "EXPIRE %d%s", expire, user_suffix);
	if (delay > 0 && !cfg->proxy)
		session_reply_line(s, "LOGIN-DELAY %u%s", delay, user_suffix);
	session_reply_line(s, "IMPLEMENTATION satchel-%s", SATCHEL_VERSION);
	session_reply_line(s, ".");
	return CMD_DONE;
}

static enum cmd_outcome cmd_quit(struct session *s,
				 const struct cmd_args *args)
{
	if (s->state == STATE_AUTHORIZATION) {
		session_reply(s, "+OK satchel signing off");
		s->end_reason = "quit";
		return CMD_CLOSE;
	}
	/* RFC 2449 6.7: EXPIRE 0 means retrieved messages are not kept. */
	if (s->expire_days == 0) {
		for (unsigned i = 0; i < maildrop_count(s->drop); i++) {
			struct maildrop_msg *msg = maildrop_msg(s->drop, i);

			if (msg->retrieved)
				msg->deleted = true;
		}
	}
	s->end_reason = "quit";
	/* RFC 1939 6.: UPDATE runs as a store job (fsyncs, rewrites); the
	 * reply comes once it is done and the lock is released. */
	if (session_store_commit(s) < 0) {
		session_reply(s, "-ERR [SYS/TEMP] out of memory, nothing "
			      "deleted");
		return CMD_CLOSE;
	}
	return CMD_WAIT;
}

/* --- TRANSACTION --- */

static enum cmd_outcome cmd_stat(struct session *s,
				 const struct cmd_args *args)
{
	unsigned count;
	uint64_t octets;

	drop_totals(s, &count, &octets);
	session_reply(s, "+OK %u %llu", count, (unsigned long long)octets);
	return CMD_DONE;
}

static enum cmd_outcome cmd_list(struct session *s,
				 const struct cmd_args *args)
{
	unsigned index, count;
	uint64_t octets;

	if (args->argc == 1) {
		if (commands_msg_number(s, args->argv[0], &index) < 0)
			return CMD_DONE;
		session_reply(s, "+OK %u %llu", index + 1,
			      (unsigned long long)session_msg_size(s, index));
		return CMD_DONE;
	}
	drop_totals(s, &count, &octets);
	session_reply(s, "+OK %u messages (%llu octets)", count,
		      (unsigned long long)octets);
	session_start_long(s, LONG_LIST, 0, -1);
	return CMD_DONE;
}

static enum cmd_outcome cmd_uidl(struct session *s,
				 const struct cmd_args *args)
{
	unsigned index;

	if (args->argc == 1) {
		if (commands_msg_number(s, args->argv[0], &index) < 0)
			return CMD_DONE;
		session_reply(s, "+OK %u %s", index + 1,
			      maildrop_msg(s->drop, index)->uidl);
		return CMD_DONE;
	}
	session_reply(s, "+OK unique-id listing follows");
	session_start_long(s, LONG_UIDL, 0, -1);
	return CMD_DONE;
}

/* RFC 6856 5. with utf8_legacy = reject: a client that did not send
 * UTF8 cannot take a message whose headers need UTF-8 mode. */
static bool refused_without_utf8(struct session *s, unsigned index)
{
	if (s->needs_utf8 == NULL || !s->needs_utf8[index])
		return false;
	session_reply(s, "-ERR [UTF8] message %u has UTF-8 headers; send "
		      "UTF8 before logging in to read it", index + 1);
	return true;
}

static enum cmd_outcome cmd_retr(struct session *s,
				 const struct cmd_args *args)
{
	unsigned index;

	if (commands_msg_number(s, args->argv[0], &index) < 0 ||
	    refused_without_utf8(s, index))
		return CMD_DONE;
	session_start_long(s, LONG_MESSAGE, index, -1);
	return CMD_DONE;
}

static enum cmd_outcome cmd_top(struct session *s,
				const struct cmd_args *args)
{
	unsigned index;
	uint64_t lines;

	if (commands_msg_number(s, args->argv[0], &index) < 0 ||
	    refused_without_utf8(s, index))
		return CMD_DONE;
	/* RFC 1939 7.: n must be non-negative; a count beyond the body
	 * means the whole message (fetchmail sends TOP n 99999999). */
	if (strnum_parse_u64(args->argv[1], UINT64_MAX, &lines) < 0) {
		session_reply(s, "-ERR invalid line count");
		return CMD_DONE;
	}
	session_start_long(s, LONG_MESSAGE, index,
			   lines > INT64_MAX ? INT64_MAX : (int64_t)lines);
	return CMD_DONE;
}

static enum cmd_outcome cmd_dele(struct session *s,
				 const struct cmd_args *args)
{
	unsigned index;

	if (commands_msg_number(s, args->argv[0], &index) < 0)
		return CMD_DONE;
	maildrop_msg(s->drop, index)->deleted = true;
	session_reply(s, "+OK message %u deleted", index + 1);
	return CMD_DONE;
}

static enum cmd_outcome cmd_noop(struct session *s,
				 const struct cmd_args *args)
{
	session_reply(s, "+OK");
	return CMD_DONE;
}

static enum cmd_outcome cmd_rset(struct session *s,
				 const struct cmd_args *args)
{
	unsigned count;
	uint64_t octets;

	for (unsigned i = 0; i < maildrop_count(s->drop); i++)
		maildrop_msg(s->drop, i)->deleted = false;
	/* RFC 1460 RSET: LAST goes back to its value at the start */
	s->last_now = s->last_base;
	drop_totals(s, &count, &octets);
	session_reply(s, "+OK maildrop has %u messages (%llu octets)", count,
		      (unsigned long long)octets);
	return CMD_DONE;
}

/* RFC 1460 LAST, removed by RFC 1725. Off by default: a client that
 * gets -ERR (fetchmail) uses UIDL, where a LAST that forgot earlier
 * sessions would make it download everything again in keep mode. With
 * last_command = persistent: the highest number of a message retrieved
 * in this session or kept from an earlier one (its retrieval time is in
 * the index, the one EXPIRE counts from). */
static enum cmd_outcome cmd_last(struct session *s,
				 const struct cmd_args *args)
{
	if (cfg_of(s)->last_command != LAST_COMMAND_PERSISTENT) {
		session_reply(s, "-ERR LAST is not supported; use UIDL");
		return CMD_DONE;
	}
	session_reply(s, "+OK %u", s->last_now);
	return CMD_DONE;
}

/* RFC 1081 RPOP: the client host's word that it checked the user (a
 * reserved port); nothing to trust on today's networks. */
static enum cmd_outcome cmd_rpop(struct session *s,
				 const struct cmd_args *args)
{
	session_reply(s, "-ERR RPOP is not supported; use PASS, APOP or "
		      "AUTH");
	return CMD_DONE;
}

/* A PROXY header (net/proxyproto.h) from a peer not in proxy_trusted:
 * anyone could name any address with one, so the connection ends. */
static enum cmd_outcome cmd_proxy(struct session *s,
				  const struct cmd_args *args)
{
	log_warn("PROXY header refused: rip=%s is not in proxy_trusted",
		 s->log_client);
	metrics_refused(s->worker->metrics, s->worker->index,
			METRICS_REFUSED_PROXY);
	session_reply(s, "-ERR [SYS/PERM] PROXY header from an address "
		      "that is not a trusted proxy");
	s->end_reason = "untrusted PROXY header";
	return CMD_CLOSE;
}

static const struct command command_table[] = {
	{ "USER", STATE_AUTHORIZATION, 1, 1, false, cmd_user },
	{ "PASS", STATE_AUTHORIZATION, 1, 1, true, cmd_pass },
	{ "APOP", STATE_AUTHORIZATION, 2, 2, false, cmd_apop },
	{ "STLS", STATE_AUTHORIZATION, 0, 0, false, cmd_stls },
	{ "AUTH", STATE_AUTHORIZATION, 0, 2, false, cmd_auth },
	{ "CAPA", BOTH_STATES, 0, 0, false, cmd_capa },
	/* RFC 6856: UTF8 only before login; LANG in both states */
	{ "UTF8", STATE_AUTHORIZATION, 0, 0, false, cmd_utf8 },
	{ "LANG", BOTH_STATES, 0, 1, false, cmd_lang },
	{ "QUIT", BOTH_STATES, 0, 0, false, cmd_quit },
	{ "STAT", STATE_TRANSACTION, 0, 0, false, cmd_stat },
	{ "LIST", STATE_TRANSACTION, 0, 1, false, cmd_list },
	{ "UIDL", STATE_TRANSACTION, 0, 1, false, cmd_uidl },
	{ "RETR", STATE_TRANSACTION, 1, 1, false, cmd_retr },
	{ "TOP", STATE_TRANSACTION, 2, 2, false, cmd_top },
	{ "DELE", STATE_TRANSACTION, 1, 1, false, cmd_dele },
	{ "NOOP", STATE_TRANSACTION, 0, 0, false, cmd_noop },
	{ "RSET", STATE_TRANSACTION, 0, 0, false, cmd_rset },
	{ "LAST", STATE_TRANSACTION, 0, 0, false, cmd_last },
	/* the subcommand table is cmd_xtnd.c's */
	{ "XTND", STATE_TRANSACTION, 0, CMD_MAX_ARGS, false, cmd_xtnd },
	/* Demon's SDPS (cmd_sdps.h); the argument is checked there */
	{ "*ENV", STATE_TRANSACTION, 1, 1, false, cmd_sdps_env },
	/* any argument and state: the answer is the same -ERR */
	{ "RPOP", BOTH_STATES, 0, 1, true, cmd_rpop },
	{ "PROXY", STATE_AUTHORIZATION, 0, 5, false, cmd_proxy },
};

enum cmd_outcome commands_dispatch(struct session *s, char *line)
{
	const struct command *cmd;
	struct cmd_args args;

	if (cmdparse_verb(line, &args) < 0 ||
	    (cmd = cmdparse_find(command_table,
				 sizeof(command_table) /
				 sizeof(command_table[0]),
				 args.verb)) == NULL) {
		session_reply(s, "-ERR unknown command");
		return CMD_BAD;
	}
	if ((cmd->states & s->state) == 0) {
		session_reply(s, "-ERR %s is not valid in the %s state",
			      cmd->name, s->state == STATE_AUTHORIZATION ?
			      "AUTHORIZATION" : "TRANSACTION");
		return CMD_BAD;
	}
	cmdparse_args(&args, cmd->rest_arg);
	if (args.argc < cmd->min_args) {
		session_reply(s, "-ERR %s needs %u argument%s", cmd->name,
			      cmd->min_args, cmd->min_args == 1 ? "" : "s");
		return CMD_BAD;
	}
	if (args.argc > cmd->max_args) {
		session_reply(s, "-ERR too many arguments for %s", cmd->name);
		return CMD_BAD;
	}
	return cmd->handler(s, &args);
}
