/* fetch_session.c: connect, TLS, greeting, CAPA and login for the fetch
 * client (fetch_session.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "fetch/fetch_session.h"
#include "net/tls.h"
#include "util/strnum.h"

void fetch_untrusted(const char *text, size_t len, char *out, size_t size)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int fetch_session_io_exit(struct fetch_session *s, int err,
			  const char *what)
{
	snprintf(s->error, sizeof(s->error), "%s: %s", what, s->pc.error);
	/* the stream is unusable now: no QUIT on it */
	s->connected = false;
	switch (err) {
	case POP3C_PROTO:
		return FETCH_EXIT_PROTOCOL;
	case POP3C_TLS:
		return FETCH_EXIT_UNAVAILABLE;
	default:
		return FETCH_EXIT_TEMPFAIL;
	}
}

/* An -ERR where +OK was needed: its response code decides the exit. */
static int fetch_session_refused(struct fetch_session *s,
				 const struct pop3_status *st,
				 const char *what)
{
	char text[POP3CLIENT_LINE_MAX + 1];

	fetch_untrusted(st->text, st->text_len, text, sizeof(text));
	snprintf(s->error, sizeof(s->error), "%s: %s%s%s%.300s", what,
		 st->code[0] ? "[" : "", st->code, st->code[0] ? "] " : "",
		 text);
	if (st->kind == POP3_BAD)
		return FETCH_EXIT_PROTOCOL;
	if (pop3_code_is(st, "IN-USE") || pop3_code_is(st, "LOGIN-DELAY") ||
	    pop3_code_is(st, "SYS/TEMP"))
		return FETCH_EXIT_TEMPFAIL;
	if (pop3_code_is(st, "AUTH"))
		return FETCH_EXIT_NOPERM;
	return FETCH_EXIT_UNAVAILABLE;
}

static bool fetch_session_capa_line(char *line, size_t len, void *context)
{
	struct fetch_caps *caps = context;
	char *arg = strchr(line, ' ');
	uint64_t n;

	char word[24] = "";

	if (arg != NULL) {
		*arg++ = '\0';
		snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, " "),
			 arg);
	}
	if (strcasecmp(line, "PIPELINING") == 0)
		caps->pipelining = true;
	else if (strcasecmp(line, "UIDL") == 0)
		caps->uidl = true;
	else if (strcasecmp(line, "TOP") == 0)
		caps->top = true;
	else if (strcasecmp(line, "STLS") == 0)
		caps->stls = true;
	else if (strcasecmp(line, "USER") == 0)
		caps->user = true;
	else if (strcasecmp(line, "RESP-CODES") == 0)
		caps->resp_codes = true;
	else if (strcasecmp(line, "SASL") == 0 && arg != NULL)
		snprintf(caps->sasl, sizeof(caps->sasl), "%s", arg);
	else if (strcasecmp(line, "LOGIN-DELAY") == 0 && arg != NULL &&
		 strnum_parse_u64(word, 100000000, &n) == 0)
		caps->login_delay = (long)n;
	else if (strcasecmp(line, "EXPIRE") == 0 && arg != NULL) {
		if (strncasecmp(arg, "NEVER", 5) == 0)
			caps->expire = -2;
		else if (strnum_parse_u64(word, 100000000, &n) == 0)
			caps->expire = (long)n;
	}
	return true;
}

int fetch_session_capa(struct fetch_session *s, struct fetch_caps *caps)
{
	struct pop3_status st = { 0 };
	int ret;

	memset(caps, 0, sizeof(*caps));
	caps->login_delay = caps->expire = -1;
	ret = pop3client_send(&s->pc, "CAPA");
	if (ret == 0)
		ret = pop3client_read_status(&s->pc, &st, s->reply,
					     sizeof(s->reply));
	if (ret < 0)
		return fetch_session_io_exit(s, ret, "CAPA");
	if (st.kind != POP3_OK) {
		/* an RFC 1939 server without CAPA: USER is all we know */
		caps->user = true;
		return st.kind == POP3_ERR ?
			       FETCH_EXIT_OK :
			       fetch_session_refused(s, &st, "CAPA");
	}
	caps->known = true;
	ret = pop3client_read_lines(&s->pc, fetch_session_capa_line, caps);
	return ret < 0 ? fetch_session_io_exit(s, ret, "CAPA") : FETCH_EXIT_OK;
}

/* Only loopback may see a password in the clear without the user's
 * explicit allow_plaintext. */
static bool fetch_session_peer_loopback(struct fetch_session *s)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	if (getpeername(s->pc.conn.fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
			24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a =
			&((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* --pin: the certificate's key must be this one too (a CA that would
 * sign for anyone is then not enough). */
static int fetch_session_pin(struct fetch_session *s,
			     const struct fetch_account *a)
{
	char proto[32], cipher[128], pin[128];
	const char *want = a->pin;

	if (want == NULL)
		return FETCH_EXIT_OK;
	if (strncmp(want, "sha256//", 8) == 0)
		want += 8;
	if (conn_tls_describe(&s->pc.conn, proto, sizeof(proto), cipher,
			      sizeof(cipher), pin, sizeof(pin)) < 0 ||
	    strcmp(pin, want) != 0) {
		s->connected = false;
		snprintf(s->error, sizeof(s->error),
			 "TLS: the server's key is not the pinned one (it is "
			 "sha256//%s)", pin);
		return FETCH_EXIT_UNAVAILABLE;
	}
	return FETCH_EXIT_OK;
}

static int fetch_session_tls(struct fetch_session *s,
			     const struct fetch_account *a)
{
	struct tls_client_settings set = {
		.verify = true, .ca_file = a->cafile, .min_version = "TLSv1.2",
		.cert_file = a->cert, .key_file = a->key,
	};
	char err[256];
	int ret;

	if (s->tls == NULL &&
	    tls_client_ctx_create(&set, &s->tls, err, sizeof(err)) < 0) {
		snprintf(s->error, sizeof(s->error), "TLS: %s", err);
		return FETCH_EXIT_CONFIG;
	}
	ret = pop3client_start_tls(&s->pc, s->tls, a->url.host);
	if (ret < 0)
		return fetch_session_io_exit(s, ret, "TLS");
	return fetch_session_pin(s, a);
}

static int fetch_session_greeting(struct fetch_session *s,
				  struct fetch_offer *offer)
{
	struct pop3_status st = { 0 };
	int ret = pop3client_read_status(&s->pc, &st, s->greeting,
					 sizeof(s->greeting));

	if (ret < 0)
		return fetch_session_io_exit(s, ret, "greeting");
	if (st.kind != POP3_OK)
		return fetch_session_refused(s, &st, "greeting");
	fetch_auth_stamp(st.text, st.text_len, offer->apop_stamp,
			 sizeof(offer->apop_stamp));
	return FETCH_EXIT_OK;
}

static int fetch_session_stls(struct fetch_session *s,
			      const struct fetch_account *a)
{
	struct pop3_status st = { 0 };
	int ret;

	if (s->caps.known && !s->caps.stls) {
		snprintf(s->error, sizeof(s->error),
			 "the server does not offer STLS: use pops:// or, "
			 "on a trusted network only, --tls none");
		return FETCH_EXIT_UNAVAILABLE;
	}
	ret = pop3client_send(&s->pc, "STLS");
	if (ret == 0)
		ret = pop3client_read_status(&s->pc, &st, s->reply,
					     sizeof(s->reply));
	if (ret < 0)
		return fetch_session_io_exit(s, ret, "STLS");
	if (st.kind != POP3_OK)
		return fetch_session_refused(s, &st, "STLS");
	ret = fetch_session_tls(s, a);
	if (ret != FETCH_EXIT_OK)
		return ret;
	/* RFC 2595 4.: what was said before TLS is forgotten */
	return fetch_session_capa(s, &s->caps);
}

static int fetch_session_login(struct fetch_session *s,
			       const struct fetch_account *a,
			       struct fetch_offer *offer,
			       const char *password)
{
	const char *why = "login failed";
	char text[POP3CLIENT_LINE_MAX + 1];
	struct pop3_status st = { 0 };
	int ret;

	offer->user = !s->caps.known || s->caps.user;
	snprintf(offer->sasl, sizeof(offer->sasl), "%s", s->caps.sasl);
	ret = fetch_auth_login(&s->pc, &a->url, offer, password, s->reply,
			       sizeof(s->reply), &why);
	pop3_status_parse(s->reply, strlen(s->reply), &st);
	fetch_untrusted(st.text, st.text_len, text, sizeof(text));
	snprintf(s->error, sizeof(s->error), "%s%s%.400s", why,
		 s->reply[0] != '\0' ? ": " : "",
		 s->reply[0] != '\0' ? text : "");
	switch (ret) {
	case FETCH_AUTH_OK:
		return FETCH_EXIT_OK;
	case FETCH_AUTH_REFUSED:
		return FETCH_EXIT_NOPERM;
	case FETCH_AUTH_TEMP:
		return FETCH_EXIT_TEMPFAIL;
	case FETCH_AUTH_UNSUPPORTED:
		return FETCH_EXIT_UNAVAILABLE;
	default:
		return FETCH_EXIT_TEMPFAIL;
	}
}

int fetch_session_open(struct fetch_session *s,
		       const struct fetch_account *a, const char *password)
{
	struct fetch_offer offer;
	enum fetch_tls tls = a->tls;
	char port[8];
	int ret;

	memset(&offer, 0, sizeof(offer));
	if (tls == FETCH_TLS_DEFAULT)
		tls = a->url.implicit_tls ? FETCH_TLS_IMPLICIT :
					    FETCH_TLS_STARTTLS;
	snprintf(port, sizeof(port), "%u", a->url.port);
	ret = pop3client_connect(&s->pc, a->url.host, port, a->timeout_secs);
	if (ret < 0)
		return fetch_session_io_exit(s, ret, "connect");
	s->connected = true;
	if (a->session_secs > 0) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		s->pc.deadline_ms = (int64_t)now.tv_sec * 1000 +
				    now.tv_nsec / 1000000 +
				    (int64_t)a->session_secs * 1000;
	}
	if (tls == FETCH_TLS_NONE && !a->allow_plaintext &&
	    !fetch_session_peer_loopback(s)) {
		snprintf(s->error, sizeof(s->error),
			 "--tls none is for loopback only: add "
			 "--allow-plaintext to send the password in the "
			 "clear over this network");
		return FETCH_EXIT_CONFIG;
	}
	if (tls == FETCH_TLS_IMPLICIT) {
		ret = fetch_session_tls(s, a);
		if (ret != FETCH_EXIT_OK)
			return ret;
	}
	ret = fetch_session_greeting(s, &offer);
	if (ret == FETCH_EXIT_OK)
		ret = fetch_session_capa(s, &s->caps);
	if (ret == FETCH_EXIT_OK && tls == FETCH_TLS_STARTTLS)
		ret = fetch_session_stls(s, a);
	if (ret != FETCH_EXIT_OK)
		return ret;
	s->caps_before = s->caps;
	ret = fetch_session_login(s, a, &offer, password);
	if (ret == FETCH_EXIT_OK && s->caps.known)
		ret = fetch_session_capa(s, &s->caps);
	return ret;
}

bool fetch_session_close(struct fetch_session *s)
{
	struct pop3_status st = { 0 };
	bool ok = false;

	if (s->connected && pop3client_send(&s->pc, "QUIT") == 0 &&
	    pop3client_read_status(&s->pc, &st, s->reply, sizeof(s->reply)) ==
		    0)
		ok = st.kind == POP3_OK;
	s->connected = false;
	pop3client_close(&s->pc);
	tls_ctx_destroy(&s->tls);
	return ok;
}
