/* cmd_auth.c: AUTH (RFC 5034) in the worker: which mechanisms this
 * connection may use, the "+ base64" exchange, cancel, limits; the auth
 * process runs the mechanism (see cmd_auth.h). */
#include "serve/cmd_auth.h"

#include <stdio.h>
#include <string.h>

#include <gsasl.h>

#include "auth/sasl_mech.h"
#include "serve/metrics.h"
#include "net/linereader.h"
#include "serve/cmd_utf8.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "util/log.h"

/* One request at a time per worker (a single-threaded event loop), so one
 * buffer serves every session; it is wiped after each send. */
static struct auth_sasl_request cmd_auth_req;

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

/* Channel binding data of type ("tls-exporter", RFC 9266, or
 * "tls-server-end-point", RFC 5929) for -PLUS; 0 when there is none. */
static size_t cmd_auth_channel_binding(struct session *s, const char *type,
				       unsigned char *buf, size_t size)
{
	int n;

	if (!conn_is_tls(&s->conn))
		return 0;
	n = conn_channel_binding(&s->conn, type, buf, size);
	return n > 0 ? (size_t)n : 0;
}

/* The verified client certificate's CN for EXTERNAL, else NULL. */
static const char *cmd_auth_peer_cn(struct session *s, char *buf,
				    size_t size)
{
	if (cfg_of(s)->tls.verify_client == TLS_VERIFY_NO ||
	    !conn_is_tls(&s->conn))
		return NULL;
	return conn_peer_cn(&s->conn, buf, size);
}

/* True when mechanism i is enabled and its conditions hold now; *why_r
 * says why not, for the AUTH reply. */
static bool cmd_auth_usable(struct session *s, size_t i, const char **why_r)
{
	const struct sasl_mech *m = sasl_mech_get(i);
	unsigned char cb[AUTH_CB_MAX];
	char cn[AUTH_USER_MAX];

	*why_r = "-ERR unsupported authentication mechanism";
	if (m == NULL || !(cfg_of(s)->auth.sasl_mech_mask & (1u << i)) ||
	    !sasl_mech_configured(m, &cfg_of(s)->auth, false))
		return false;
	/* proxy mode logs in at the backend with the client's password,
	 * which PLAIN is the one mechanism to hand over, or with a ticket
	 * (auth/proxyticket.h), which any mechanism can be proxied with */
	if (cfg_of(s)->proxy && cfg_of(s)->auth.proxy_ticket_key[0] == '\0' &&
	    strcmp(m->name, "PLAIN") != 0)
		return false;
	/* Files only the auth process can read, and what its user
	 * databases can serve (no stored secrets with an LDAP bind): its
	 * word decides. Without it only mechanisms needing no file. */
	if ((s->worker->auth_hello_seen ||
	     (m->flags & (SASL_MECH_NEEDS_KEYTAB | SASL_MECH_NEEDS_TOKEN_KEY))) &&
	    !(s->worker->auth_mech_files & (1u << i)))
		return false;
	if ((m->flags & SASL_MECH_PLAINTEXT) && !session_plaintext_allowed(s)) {
		*why_r = "-ERR [AUTH] plaintext authentication is not allowed "
			 "on this connection; use STLS first";
		return false;
	}
	if ((m->flags & SASL_MECH_CHANNEL_BINDING) &&
	    cmd_auth_channel_binding(s, "tls-exporter", cb, sizeof(cb)) == 0 &&
	    cmd_auth_channel_binding(s, "tls-server-end-point", cb,
				     sizeof(cb)) == 0) {
		*why_r = "-ERR [AUTH] channel binding needs TLS";
		return false;
	}
	if ((m->flags & SASL_MECH_CLIENT_CERT) &&
	    cmd_auth_peer_cn(s, cn, sizeof(cn)) == NULL) {
		*why_r = "-ERR [AUTH] EXTERNAL needs a verified TLS client "
			 "certificate";
		return false;
	}
	return true;
}

/* "MECH MECH ..." of the usable mechanisms into buf ("" when none). */
static void cmd_auth_list(struct session *s, char *buf, size_t size)
{
	size_t i, used = 0;
	const char *why;

	buf[0] = '\0';
	for (i = 0; i < sasl_mech_count(); i++) {
		int n;

		if (!cmd_auth_usable(s, i, &why))
			continue;
		n = snprintf(buf + used, size - used, "%s%s",
			     used > 0 ? " " : "", sasl_mech_get(i)->name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

void cmd_auth_capa(struct session *s)
{
	char list[256];

	if (s->state != STATE_AUTHORIZATION)
		return;
	cmd_auth_list(s, list, sizeof(list));
	if (list[0] != '\0')
		session_reply_line(s, "SASL %s", list);
}

/* The limit of ordinary command lines (what linereader_init kept). */
static size_t cmd_auth_normal_limit(const struct session *s)
{
	size_t max = cfg_of(s)->max_line;

	return max < LINEREADER_BUF ? max : LINEREADER_BUF;
}

static void cmd_auth_end(struct session *s)
{
	s->sasl_active = false;
	(void)linereader_set_limit(&s->in, cmd_auth_normal_limit(s));
}

static int cmd_auth_send(struct session *s, uint32_t type)
{
	int ret;

	cmd_auth_req.type = type;
	/* every message names the client: the auth process logs it */
	snprintf(cmd_auth_req.client_addr, sizeof(cmd_auth_req.client_addr),
		 "%s", s->log_client);
	ret = worker_auth_send_sasl(s->worker, s, &cmd_auth_req);
	explicit_bzero(&cmd_auth_req, AUTH_SASL_REQUEST_HDR +
		       (cmd_auth_req.data_len <= AUTH_SASL_DATA_MAX ?
			cmd_auth_req.data_len : AUTH_SASL_DATA_MAX));
	return ret;
}

void cmd_auth_abort(struct session *s)
{
	session_wipe_secret(s);
	memset(&cmd_auth_req, 0, AUTH_SASL_REQUEST_HDR);
	(void)cmd_auth_send(s, AUTH_REQ_SASL_ABORT);
	cmd_auth_end(s);
}

/* Strict base64 (RFC 5034 4.: invalid base64 is rejected) into the
 * request's data; for PLAIN and LOGIN in UTF-8 mode the name and
 * password prepared as USER and PASS are (cmd_utf8.h). 0 or -1. */
static int cmd_auth_decode(struct session *s, const char *b64, size_t len)
{
	char *bin = NULL;
	size_t bin_len = 0;

	if (gsasl_base64_from(b64, len, &bin, &bin_len) != GSASL_OK)
		return -1;
	if (bin_len > AUTH_SASL_DATA_MAX) {
		explicit_bzero(bin, bin_len);
		gsasl_free(bin);
		return -1;
	}
	if (bin_len > 0)
		memcpy(cmd_auth_req.data, bin, bin_len);
	cmd_auth_req.data_len = (uint32_t)bin_len;
	if (bin != NULL) {
		explicit_bzero(bin, bin_len);
		gsasl_free(bin);
	}
	if (s->sasl_prep && bin_len > 0) {
		int n = cmd_utf8_prep_sasl(s, cmd_auth_req.data, bin_len,
					   AUTH_SASL_DATA_MAX);

		if (n < 0)
			return -1;
		cmd_auth_req.data_len = (uint32_t)n;
	}
	return 0;
}

/* Proxy mode: the password of a PLAIN response (RFC 4616: [authzid]
 * NUL authcid NUL passwd) in cmd_auth_req, kept for the backend login.
 * A malformed one keeps nothing; the auth process refuses it anyway. */
static void cmd_auth_keep_plain_secret(struct session *s)
{
	const unsigned char *d = cmd_auth_req.data, *nul;
	size_t len = cmd_auth_req.data_len, off;

	session_wipe_secret(s);
	if (!cfg_of(s)->proxy)
		return;
	nul = memchr(d, '\0', len);
	if (nul == NULL)
		return;
	off = (size_t)(nul - d) + 1;
	nul = memchr(d + off, '\0', len - off);
	if (nul == NULL)
		return;
	off = (size_t)(nul - d) + 1;
	if (memchr(d + off, '\0', len - off) != NULL)
		return;
	/* too long or out of memory: nothing kept, the backend refuses */
	(void)session_keep_secret(s, (const char *)d + off, len - off);
}

/* Sends the request in cmd_auth_req and waits for the answer. */
static enum cmd_outcome cmd_auth_relay(struct session *s, uint32_t type)
{
	if (cmd_auth_send(s, type) < 0) {
		cmd_auth_end(s);
		session_reply(s, "-ERR [SYS/TEMP] authentication service "
			      "unavailable, try again later");
		return CMD_DONE;
	}
	s->waiting = true;
	return CMD_WAIT;
}

enum cmd_outcome cmd_auth(struct session *s, const struct cmd_args *args)
{
	struct auth_sasl_request *req = &cmd_auth_req;
	const struct sasl_mech *mech;
	const char *why, *ir;
	char list[256];
	size_t bit;

	if (args->argc == 0) {
		/* not in RFC 5034, but clients ask (as with RFC 1734) */
		char *save = NULL;

		cmd_auth_list(s, list, sizeof(list));
		session_reply(s, "+OK supported mechanisms follow");
		for (char *p = strtok_r(list, " ", &save); p != NULL;
		     p = strtok_r(NULL, " ", &save))
			session_reply_line(s, "%s", p);
		session_reply_line(s, ".");
		return CMD_DONE;
	}
	s->have_user = false;
	mech = sasl_mech_find(args->argv[0], &bit);
	if (mech == NULL) {
		session_reply(s, "-ERR unsupported authentication mechanism");
		return CMD_DONE;
	}
	if (!cmd_auth_usable(s, bit, &why)) {
		session_reply(s, "%s", why);
		return CMD_DONE;
	}
	memset(req, 0, AUTH_SASL_REQUEST_HDR);
	snprintf(req->mech, sizeof(req->mech), "%s", mech->name);
	s->sasl_prep = s->utf8 && (mech->flags & SASL_MECH_PLAINTEXT);
	s->login_mech = (uint8_t)(METRICS_MECH_SASL + bit);
	if (args->argc == 2) {
		ir = args->argv[1];
		req->has_data = 1;
		/* RFC 5034 4.: "=" is an empty initial response */
		if (strcmp(ir, "=") != 0 &&
		    cmd_auth_decode(s, ir, strlen(ir)) < 0) {
			explicit_bzero(req, AUTH_SASL_REQUEST_HDR);
			session_reply(s, "-ERR invalid base64 in the initial "
				      "response");
			return CMD_BAD;
		}
	}
	if (req->has_data)
		cmd_auth_keep_plain_secret(s);
	req->secured = s->secured || s->loopback;
	if (cmd_auth_peer_cn(s, req->peer_cn, sizeof(req->peer_cn)) == NULL)
		req->peer_cn[0] = '\0';
	req->cb_exporter_len = (uint32_t)cmd_auth_channel_binding(
		s, "tls-exporter", req->cb_exporter, sizeof(req->cb_exporter));
	req->cb2_len = (uint32_t)cmd_auth_channel_binding(
		s, "tls-server-end-point", req->cb2, sizeof(req->cb2));
	req->cb2_type = req->cb2_len > 0 ? AUTH_CB_TLS_SERVER_END_POINT :
			AUTH_CB_NONE;
	/* responses may be longer than commands: raise the line limit for
	 * the exchange only, so idle sessions keep the small buffer */
	if (linereader_set_limit(&s->in, cfg_of(s)->sasl_max_line) < 0) {
		explicit_bzero(req, sizeof(*req));
		session_reply(s, "-ERR [SYS/TEMP] out of memory, try again "
			      "later");
		return CMD_DONE;
	}
	s->sasl_active = true;
	return cmd_auth_relay(s, AUTH_REQ_SASL_START);
}

enum cmd_outcome cmd_auth_continue(struct session *s, char *line,
				   size_t len)
{
	/* RFC 5034 4.: "*" cancels; the server answers -ERR */
	if (len == 1 && line[0] == '*' && !s->in.nul_seen) {
		cmd_auth_abort(s);
		session_reply(s, "-ERR [AUTH] authentication cancelled");
		return CMD_DONE;
	}
	memset(&cmd_auth_req, 0, AUTH_SASL_REQUEST_HDR);
	if (s->in.nul_seen || cmd_auth_decode(s, line, len) < 0) {
		cmd_auth_abort(s);
		session_reply(s, "-ERR invalid base64 in the response, "
			      "authentication aborted");
		return CMD_BAD;
	}
	cmd_auth_keep_plain_secret(s);
	return cmd_auth_relay(s, AUTH_REQ_SASL_CONTINUE);
}

void cmd_auth_too_long(struct session *s)
{
	cmd_auth_abort(s);
	session_reply(s, "-ERR response longer than %u octets, "
		      "authentication aborted", cfg_of(s)->sasl_max_line);
}

/* "+ BASE64" straight into the output: challenges can be longer than
 * session_reply()'s line. */
static int cmd_auth_challenge(struct session *s, const struct auth_reply *r)
{
	char *b64 = NULL;
	size_t len = 0;
	int ret;

	if (gsasl_base64_to((const char *)r->data, r->data_len, &b64,
			    &len) != GSASL_OK)
		return -1;
	ret = outbuf_append(&s->out, "+ ", 2) < 0 ||
	      outbuf_append(&s->out, b64, len) < 0 ||
	      outbuf_append(&s->out, "\r\n", 2) < 0 ? -1 : 0;
	gsasl_free(b64);
	return ret;
}

void cmd_auth_reply(struct session *s, const struct auth_reply *r)
{
	if (r->result != AUTH_CONTINUE) {
		cmd_auth_end(s);
		session_auth_result(s, r);
		return;
	}
	if (cmd_auth_challenge(s, r) < 0) {
		log_error("out of memory for client %s", s->addr);
		cmd_auth_abort(s);
		session_reply(s, "-ERR [SYS/TEMP] out of memory, try again "
			      "later");
	}
	session_resume(s);
}
