/* test-lmtp_cmd.c: LMTP command line syntax (lmtp_parse.c: the verb and
 * arguments, MAIL FROM / RCPT TO paths and every ESMTP parameter, BDAT)
 * and the streaming dot-unstuffing of DATA (lmtp_dot.c), split at every
 * position; the AUTH PLAIN response (RFC 4616). The dispatch itself
 * (states, replies) is in the dialogues, tests/dialogue/ (the .lmtp
 * files), and for remote sessions in test-lmtp_session.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "deliver/lmtp_dot.h"
#include "deliver/lmtp_parse.h"
#include "unit.h"

/* Parses "MAIL ..." text; returns the reply ("" on success). */
static const char *mail(const char *text, uint64_t max,
			struct lmtp_mail *m)
{
	static char line[1024];
	struct lmtp_args args;
	const char *reply = "";

	snprintf(line, sizeof(line), "%s", text);
	if (lmtp_parse_line(line, &args) < 0)
		return "bad line";
	if (lmtp_parse_mail(&args, max, m, &reply) < 0)
		return reply;
	return "";
}

static const char *rcpt(const char *text, struct lmtp_rcpt_args *r)
{
	static char line[1024];
	struct lmtp_args args;
	const char *reply = "";

	snprintf(line, sizeof(line), "%s", text);
	if (lmtp_parse_line(line, &args) < 0)
		return "bad line";
	if (lmtp_parse_rcpt(&args, r, &reply) < 0)
		return reply;
	return "";
}

static void test_line(void)
{
	struct lmtp_args args;
	char l1[] = "LHLO  client.example";
	char l2[] = "";
	char l3[] = "VERYLONGVERBINDEED x";
	char l4[] = "QUIT";

	CHECK(lmtp_parse_line(l1, &args) == 0, "LHLO parsed");
	CHECK_STR(args.verb, "LHLO", "verb kept");
	CHECK(args.argc == 1, "runs of spaces: one argument");
	CHECK_STR(args.rest, " client.example", "rest after one space");
	CHECK(lmtp_parse_line(l2, &args) < 0, "empty line refused");
	CHECK(lmtp_parse_line(l3, &args) < 0, "over-long verb refused");
	CHECK(lmtp_parse_line(l4, &args) == 0 && args.argc == 0,
	      "no arguments");
}

static void test_mail(void)
{
	struct lmtp_mail m;

	CHECK_STR(mail("MAIL FROM:<a@b.example>", 0, &m), "", "plain MAIL");
	CHECK_STR(m.sender, "a@b.example", "sender without <>");
	CHECK_STR(mail("MAIL from:<>", 0, &m), "", "null sender");
	CHECK_STR(m.sender, "", "null sender is empty");
	CHECK_STR(mail("MAIL FROM: <a@b>", 0, &m), "",
		  "one space after the colon tolerated");
	CHECK_STR(mail("MAIL FROM:<@r1,@r2:a@b>", 0, &m), "",
		  "source route accepted");
	CHECK_STR(m.sender, "a@b", "source route dropped");
	CHECK_STR(mail("MAIL FROM:<\"x y\"@b>", 0, &m), "",
		  "quoted local part with a space");
	CHECK_STR(m.sender, "\"x y\"@b", "quoted local part kept");
	CHECK_STR(mail("MAIL FROM:a@b", 0, &m),
		  "501 5.1.7 Bad sender address syntax", "no brackets");
	CHECK_STR(mail("MAIL FROM:<a@b", 0, &m),
		  "501 5.1.7 Bad sender address syntax", "unclosed path");
	CHECK_STR(mail("MAIL FROM:<a b@c>", 0, &m),
		  "501 5.1.7 Bad sender address syntax", "space in path");
	CHECK_STR(mail("MAIL FROM:<a@b>x", 0, &m),
		  "501 5.1.7 Bad sender address syntax", "junk after path");
	CHECK_STR(mail("MAIL TO:<a@b>", 0, &m),
		  "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]",
		  "FROM: missing");
	CHECK_STR(mail("MAIL FROM:<\001@b>", 0, &m),
		  "501 5.1.7 Bad sender address syntax", "control byte");

	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME SMTPUTF8 "
		       "RET=HDRS ENVID=QQ+2B1", 0, &m), "",
		  "every MAIL parameter");
	CHECK(m.have_size && m.size == 1000, "SIZE value");
	CHECK(m.body == LMTP_BODY_8BITMIME, "BODY=8BITMIME");
	CHECK(m.smtputf8, "SMTPUTF8");
	CHECK(m.ret == LMTP_RET_HDRS, "RET=HDRS");
	CHECK_STR(m.envid, "QQ+1", "ENVID xtext decoded");
	CHECK_STR(mail("MAIL FROM:<a@b> body=7bit ret=full", 0, &m), "",
		  "parameters are case-insensitive");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=1001", 1000, &m),
		  "552 5.3.4 Message size exceeds fixed maximum message size",
		  "SIZE over the limit");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=1000", 1000, &m), "",
		  "SIZE at the limit");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=-1", 0, &m),
		  "501 5.5.4 Bad SIZE value", "negative SIZE");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=", 0, &m),
		  "501 5.5.4 Parameter needs a value", "empty SIZE");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=99999999999999999999", 0, &m),
		  "501 5.5.4 Bad SIZE value", "SIZE overflow");
	CHECK_STR(mail("MAIL FROM:<a@b> BODY=BINARYMIME", 0, &m),
		  "555 5.5.4 Unsupported BODY value", "BINARYMIME refused");
	CHECK_STR(mail("MAIL FROM:<a@b> SMTPUTF8=yes", 0, &m),
		  "501 5.5.4 SMTPUTF8 takes no value", "SMTPUTF8 value");
	CHECK_STR(mail("MAIL FROM:<a@b> RET=ALL", 0, &m),
		  "501 5.5.4 Bad RET value", "bad RET");
	CHECK_STR(mail("MAIL FROM:<a@b> ENVID=a+zz", 0, &m),
		  "501 5.5.4 Bad ENVID value", "bad xtext");
	CHECK_STR(mail("MAIL FROM:<a@b> XYZ=1", 0, &m),
		  "555 5.5.4 Unsupported parameter", "unknown parameter");
	CHECK_STR(mail("MAIL FROM:<a@b> AUTH=<>", 0, &m), "",
		  "RFC 4954 5.: AUTH=<> accepted (and ignored)");
	CHECK_STR(mail("MAIL FROM:<a@b> AUTH=a+2Bb@example.org", 0, &m), "",
		  "AUTH= in xtext");
	CHECK_STR(mail("MAIL FROM:<a@b> AUTH=a+zz", 0, &m),
		  "501 5.5.4 Bad AUTH value", "AUTH= bad xtext");
	CHECK_STR(mail("MAIL FROM:<a@b> SIZE=1 SIZE=2", 0, &m),
		  "501 5.5.4 Duplicate parameter", "duplicate parameter");
}

static void test_rcpt(void)
{
	struct lmtp_rcpt_args r;

	CHECK_STR(rcpt("RCPT TO:<alice@example.org>", &r), "", "plain RCPT");
	CHECK_STR(r.address, "alice@example.org", "address without <>");
	CHECK(r.notify == 0 && r.orcpt[0] == '\0', "no DSN parameters");
	CHECK_STR(rcpt("RCPT TO:<postmaster>", &r), "",
		  "postmaster without a domain");
	CHECK_STR(rcpt("RCPT TO:<>", &r),
		  "501 5.1.3 Bad recipient address syntax", "null path");
	CHECK_STR(rcpt("RCPT FROM:<a@b>", &r),
		  "501 5.5.4 Syntax: RCPT TO:<address> [parameters]",
		  "TO: missing");
	CHECK_STR(rcpt("RCPT TO:<a@b> NOTIFY=SUCCESS,FAILURE "
		       "ORCPT=rfc822;a+2Bx@b", &r), "", "DSN parameters");
	CHECK(r.notify == (LMTP_NOTIFY_SUCCESS | LMTP_NOTIFY_FAILURE),
	      "NOTIFY bits");
	CHECK_STR(r.orcpt, "rfc822;a+x@b", "ORCPT decoded");
	CHECK_STR(rcpt("RCPT TO:<a@b> NOTIFY=NEVER", &r), "", "NEVER");
	CHECK_STR(rcpt("RCPT TO:<a@b> NOTIFY=NEVER,DELAY", &r),
		  "501 5.5.4 Bad NOTIFY value", "NEVER with others");
	CHECK_STR(rcpt("RCPT TO:<a@b> NOTIFY=SOMETIMES", &r),
		  "501 5.5.4 Bad NOTIFY value", "unknown NOTIFY");
	CHECK_STR(rcpt("RCPT TO:<a@b> ORCPT=a@b", &r),
		  "501 5.5.4 Bad ORCPT value", "ORCPT without type");
	CHECK_STR(rcpt("RCPT TO:<a@b> SIZE=1", &r),
		  "555 5.5.4 Unsupported parameter", "MAIL parameter on RCPT");
	CHECK_STR(rcpt("RCPT TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", &r),
		  "501 5.5.4 Duplicate parameter", "duplicate NOTIFY");
	{
		char longaddr[400];

		memset(longaddr, 'a', sizeof(longaddr));
		memcpy(longaddr, "RCPT TO:<", 9);
		memcpy(longaddr + 300, "@b>", 4);
		CHECK_STR(rcpt(longaddr, &r),
			  "501 5.1.3 Bad recipient address syntax",
			  "path over 256 octets");
	}
}

static void test_bdat(void)
{
	struct lmtp_args args;
	const char *reply;
	uint64_t size;
	bool last;
	char l1[] = "BDAT 100 LAST", l2[] = "BDAT 0", l3[] = "BDAT x",
	     l4[] = "BDAT 5 FIRST", l5[] = "BDAT -5";

	CHECK(lmtp_parse_line(l1, &args) == 0 &&
	      lmtp_parse_bdat(&args, &size, &last, &reply) == 0 &&
	      size == 100 && last, "BDAT 100 LAST");
	CHECK(lmtp_parse_line(l2, &args) == 0 &&
	      lmtp_parse_bdat(&args, &size, &last, &reply) == 0 &&
	      size == 0 && !last, "BDAT 0");
	CHECK(lmtp_parse_line(l3, &args) == 0 &&
	      lmtp_parse_bdat(&args, &size, &last, &reply) < 0,
	      "BDAT x refused");
	CHECK_STR(reply, "501 5.5.4 Syntax: BDAT size [LAST]", "its reply");
	CHECK(lmtp_parse_line(l4, &args) == 0 &&
	      lmtp_parse_bdat(&args, &size, &last, &reply) < 0,
	      "BDAT 5 FIRST refused");
	CHECK(lmtp_parse_line(l5, &args) == 0 &&
	      lmtp_parse_bdat(&args, &size, &last, &reply) < 0,
	      "BDAT -5 refused");
}

/* Unstuffs in, fed in pieces of step octets; returns the output and the
 * octets left after the end. */
static char *unstuff(const char *in, size_t len, size_t step,
		     size_t *out_len_r, size_t *rest_r, bool *done_r)
{
	struct lmtp_dot dot;
	char *out = malloc(len + 2);
	size_t n = 0, pos = 0;

	lmtp_dot_init(&dot);
	while (pos < len && !lmtp_dot_done(&dot)) {
		size_t piece = len - pos < step ? len - pos : step, got;
		size_t used = lmtp_dot_feed(&dot, in + pos, piece, out + n,
					    &got);

		n += got;
		pos += used;
	}
	*out_len_r = n;
	*rest_r = len - pos;
	*done_r = lmtp_dot_done(&dot);
	return out;
}

static void test_dot(void)
{
	static const struct {
		const char *in, *out, *rest;
		const char *name;
	} cases[] = {
		{ "a\r\n.\r\n", "a\r\n", "", "plain end" },
		{ ".\r\n", "", "", "empty message" },
		{ "..x\r\n.\r\nQUIT\r\n", ".x\r\n", "QUIT\r\n",
		  "stuffed dot removed; pipelined command left" },
		{ "a\r\n..\r\n.\r\n", "a\r\n.\r\n", "", "a line of one dot" },
		{ "x.\r\n.y\r\n.\r\n", "x.\r\ny\r\n", "",
		  "only at a line start" },
		{ "a\n.\n", "a\n", "", "bare LF line ends" },
		{ "a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", "",
		  "dot CR not followed by LF" },
		{ "a\r\n.\r.\r\n.\r\n", "a\r\n\r.\r\n", "",
		  "dot CR then dot" },
		{ "\r\n\r\n.\r\n", "\r\n\r\n", "", "empty lines" },
		{ "8bit \xff\x00 ok\r\n.\r\n", "8bit \xff\x00 ok\r\n", "",
		  "8-bit and NUL pass" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t in_len = strlen(cases[i].in), out_want;
		bool all = true;

		/* NUL inside: the 8-bit case is written with its length */
		if (i == 9)
			in_len = 15;
		out_want = i == 9 ? 12 : strlen(cases[i].out);
		for (size_t step = 1; step <= in_len; step++) {
			size_t out_len, rest;
			bool done;
			char *out = unstuff(cases[i].in, in_len, step,
					    &out_len, &rest, &done);

			if (!done || out_len != out_want ||
			    memcmp(out, cases[i].out, out_len) != 0 ||
			    rest != strlen(cases[i].rest))
				all = false;
			free(out);
		}
		CHECK(all, cases[i].name);
	}
	{
		/* no end yet: everything consumed, nothing done */
		size_t out_len, rest;
		bool done;
		char *out = unstuff("abc\r\n.", 6, 2, &out_len, &rest, &done);

		CHECK(!done && rest == 0 && out_len == 5,
		      "a held-back dot waits for the next chunk");
		free(out);
	}
	{
		/* a long line is passed through whole */
		size_t len = 5000, out_len, rest;
		char *in = malloc(len + 5);
		bool done;
		char *out;

		memset(in, 'x', len);
		memcpy(in + len, "\r\n.\r\n", 5);
		out = unstuff(in, len + 5, 4096, &out_len, &rest, &done);
		CHECK(done && out_len == len + 2, "a 5000-octet line kept");
		free(out);
		free(in);
	}
}

/* AUTH PLAIN (RFC 4954 4., RFC 4616 2.): base64 of [authzid] NUL authcid
 * NUL passwd; strict base64, every malformed message refused. */
static void test_auth_plain(void)
{
	struct lmtp_auth_plain p;
	const char *reply = "";
	char long_user[520], b64[420];
	unsigned char msg[304];

	CHECK(lmtp_parse_auth_plain("AGFsaWNlAHNlY3JldA==", &p, &reply) == 0,
	      "PLAIN without authzid");
	CHECK_STR(p.user, "alice", "PLAIN: authcid");
	CHECK_STR(p.password, "secret", "PLAIN: password");
	CHECK_STR(p.authzid, "", "PLAIN: no authzid");
	CHECK(lmtp_parse_auth_plain("YWxpY2UAYWxpY2UAc2UgY3JldA==", &p, &reply) == 0 &&
	      strcmp(p.authzid, "alice") == 0 &&
	      strcmp(p.password, "se cret") == 0,
	      "PLAIN with authzid, a space in the password");
	CHECK(lmtp_parse_auth_plain("not base64!", &p, &reply) < 0,
	      "not base64");
	CHECK_STR(reply, "501 5.5.2 Cannot Base64-decode Client responses",
		  "not base64: 501 5.5.2");
	CHECK(lmtp_parse_auth_plain("", &p, &reply) < 0 &&
	      strncmp(reply, "501 5.5.2", 9) == 0, "empty line: 501");
	CHECK(lmtp_parse_auth_plain("=", &p, &reply) < 0, "\"=\" (empty)");
	CHECK_STR(reply, "535 5.7.8 Authentication credentials invalid",
		  "empty response: 535 5.7.8");
	CHECK(lmtp_parse_auth_plain("AGFsaWNl", &p, &reply) < 0 &&
	      strncmp(reply, "535", 3) == 0 && p.user[0] == '\0',
	      "one NUL only: 535, nothing left");
	CHECK(lmtp_parse_auth_plain("AABzZWNyZXQ=", &p, &reply) < 0,
	      "empty authcid refused");
	CHECK(lmtp_parse_auth_plain("AGFsaWNlAA==", &p, &reply) < 0,
	      "empty password refused");
	CHECK(lmtp_parse_auth_plain("AGFsaWNlAHNlAGNyZXQ=", &p, &reply) < 0 &&
	      p.password[0] == '\0', "a NUL inside the password refused");
	/* NUL, 300 octets of user, NUL, "pw" */
	memset(msg, 'u', sizeof(msg));
	msg[0] = '\0';
	msg[301] = '\0';
	memcpy(msg + 302, "pw", 2);
	EVP_EncodeBlock((unsigned char *)b64, msg, 304);
	CHECK(lmtp_parse_auth_plain(b64, &p, &reply) < 0,
	      "an authcid longer than AUTH_USER_MAX refused");
	memset(long_user, 'A', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	CHECK(lmtp_parse_auth_plain(long_user, &p, &reply) < 0,
	      "long garbage refused");
}

int main(void)
{
	test_line();
	test_mail();
	test_rcpt();
	test_bdat();
	test_dot();
	test_auth_plain();
	return unit_done();
}
