/* test-popurl.c: RFC 2384 POP URLs (popurl.c): every form, the refusals,
 * and formatting back. */
#include <string.h>

#include "fetch/popurl.h"
#include "unit.h"

static void good(const char *text, bool tls, const char *user,
		 enum popurl_auth auth, const char *mech, const char *host,
		 unsigned port)
{
	struct popurl u, again;
	const char *error = "";
	char out[1024], name[300];
	bool ok = popurl_parse(text, &u, &error) == 0;

	snprintf(name, sizeof(name), "url: %s (%s)", text, ok ? "" : error);
	CHECK(ok && u.implicit_tls == tls && strcmp(u.user, user) == 0 &&
		      u.auth == auth && strcmp(u.mech, mech) == 0 &&
		      strcmp(u.host, host) == 0 && u.port == port,
	      name);
	snprintf(name, sizeof(name), "url: %s formats back the same", text);
	CHECK(ok && popurl_format(&u, out, sizeof(out)) > 0 &&
		      popurl_parse(out, &again, &error) == 0 &&
		      memcmp(&u, &again, sizeof(u)) == 0,
	      name);
}

static void bad(const char *text, const char *want)
{
	struct popurl u;
	const char *error = "";
	char name[300];
	int ret = popurl_parse(text, &u, &error);

	snprintf(name, sizeof(name), "url refused: %s (%s)", text, error);
	CHECK(ret < 0 && strstr(error, want) != NULL, name);
}

int main(void)
{
	good("pop://alice@pop.example.com", false, "alice", POPURL_AUTH_USER,
	     "", "pop.example.com", 110);
	good("pops://alice@pop.example.com", true, "alice", POPURL_AUTH_USER,
	     "", "pop.example.com", 995);
	good("POP3S://bob@h:1995/", true, "bob", POPURL_AUTH_USER, "", "h",
	     1995);
	good("pop3://bob;auth=*@h", false, "bob", POPURL_AUTH_ANY, "", "h",
	     110);
	good("pop://bob;AUTH=+APOP@h:1110", false, "bob", POPURL_AUTH_APOP,
	     "", "h", 1110);
	good("pop://bob;AUTH=scram-sha-256-plus@h", false, "bob",
	     POPURL_AUTH_SASL, "SCRAM-SHA-256-PLUS", "h", 110);
	good("pops://you%40gmail.com;AUTH=XOAUTH2@pop.gmail.com", true,
	     "you@gmail.com", POPURL_AUTH_SASL, "XOAUTH2", "pop.gmail.com",
	     995);
	good("pop://a%3bb%3Ac@[::1]:1110", false, "a;b:c", POPURL_AUTH_USER,
	     "", "::1", 1110);
	good("pop://u@127.0.0.1:65535", false, "u", POPURL_AUTH_USER, "",
	     "127.0.0.1", 65535);
	good("pop://h.example", false, "", POPURL_AUTH_USER, "", "h.example",
	     110);
	bad("imap://u@h", "scheme");
	bad("pop://u:secret@h", "password");
	bad("pop://u@h:0", "port");
	bad("pop://u@h:65536", "port");
	bad("pop://u@h:11x", "port");
	bad("pop://u@h:", "port");
	bad("pop://u@h/INBOX", "path");
	bad("pop://u@h?x", "path");
	bad("pop://u%4@h", "escape");
	bad("pop://u%zz@h", "escape");
	bad("pop://u%0d%0aQUIT@h", "control");
	bad("pop://u;AUTH=@h", "mechanism");
	bad("pop://u;AUTH=A B@h", "mechanism");
	bad("pop://u;AUTH=ABCDEFGHIJKLMNOPQRSTU@h", "mechanism");
	bad("pop://u;X=1@h", "AUTH");
	bad("pop://u@", "host");
	bad("pop://u@h_ost!", "host");
	bad("pop://u@[::1", "IPv6");
	bad("pop://u@[::1]x", "IPv6");
	return unit_done();
}
