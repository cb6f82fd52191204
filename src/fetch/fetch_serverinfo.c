/* fetch_serverinfo.c: `satchel fetch --serverinfo URL`: what a server
 * offers, for choosing an account's settings (fetch.h). */
#include <stdio.h>
#include <string.h>

#include "fetch/fetch.h"
#include "fetch/fetch_password.h"
#include "fetch/fetch_session.h"
#include "net/conn.h"

static void fetch_serverinfo_caps(const char *when,
				  const struct fetch_caps *c)
{
	if (!c->known) {
		printf("capabilities %s login: none (no CAPA)\n", when);
		return;
	}
	printf("capabilities %s login:%s%s%s%s%s%s%s%s\n", when,
	       c->user ? " USER" : "", c->uidl ? " UIDL" : "",
	       c->top ? " TOP" : "", c->pipelining ? " PIPELINING" : "",
	       c->stls ? " STLS" : "", c->resp_codes ? " RESP-CODES" : "",
	       c->sasl[0] ? " SASL " : "", c->sasl);
	if (c->login_delay >= 0)
		printf("  LOGIN-DELAY %ld s%s\n", c->login_delay,
		       c->login_delay > 0 ? ": poll no more often" : "");
	if (c->expire == -2)
		printf("  EXPIRE NEVER\n");
	else if (c->expire >= 0)
		printf("  EXPIRE %ld days%s\n", c->expire,
		       c->expire == 0 ? ": mail is deleted once fetched" :
					": leave-on-server keeps it that long");
}

int fetch_serverinfo(const struct fetch_account *a)
{
	struct fetch_session s;
	char password[FETCH_PASSWORD_MAX], text[POP3CLIENT_LINE_MAX * 4 + 8];
	char proto[32], cipher[128], pin[128];
	const char *why = NULL, *pw = NULL;
	int ret;

	memset(&s, 0, sizeof(s));
	conn_init(&s.pc.conn, -1);
	if (a->password_file != NULL || a->password_command != NULL) {
		if (fetch_password_get(a->password_file, a->password_command,
				       a->name, password, sizeof(password),
				       &why) < 0) {
			fprintf(stderr, "satchel fetch: %s\n", why);
			return FETCH_EXIT_CONFIG;
		}
		pw = password;
	}
	ret = fetch_session_open(&s, a, pw != NULL ? pw : "");
	explicit_bzero(password, sizeof(password));
	fetch_untrusted(s.greeting, strlen(s.greeting), text, sizeof(text));
	printf("server %s:%u\ngreeting (untrusted): %s\n", a->url.host,
	       a->url.port, text);
	if (conn_is_tls(&s.pc.conn) &&
	    conn_tls_describe(&s.pc.conn, proto, sizeof(proto), cipher,
			      sizeof(cipher), pin, sizeof(pin)) == 0)
		printf("TLS: %s, %s, certificate verified\n"
		       "  SPKI pin: sha256//%s\n", proto, cipher, pin);
	else
		printf("TLS: none\n");
	fetch_serverinfo_caps("before", &s.caps_before);
	if (ret == FETCH_EXIT_OK && pw != NULL)
		fetch_serverinfo_caps("after", &s.caps);
	else if (pw == NULL)
		printf("capabilities after login: not logged in (no "
		       "password given)\n");
	if (ret != FETCH_EXIT_OK && pw != NULL)
		printf("login: %s\n", s.error);
	if (ret != FETCH_EXIT_OK && pw == NULL &&
	    ret != FETCH_EXIT_NOPERM && ret != FETCH_EXIT_UNAVAILABLE)
		printf("error: %s\n", s.error);
	fetch_session_close(&s);
	return pw == NULL && (ret == FETCH_EXIT_NOPERM ||
			      ret == FETCH_EXIT_UNAVAILABLE) ?
		       FETCH_EXIT_OK :
		       ret;
}
