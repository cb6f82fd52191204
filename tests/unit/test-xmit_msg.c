/* test-xmit_msg.c: the header reading of XTND XMIT: address lists as
 * RFC 5322 3.4 writes them, the From:/Sender: and recipient fields, Bcc:
 * removal, and SMTP reply lines. */
#include <stdlib.h>
#include <string.h>

#include "serve/xmit_msg.h"
#include "unit.h"

static struct xmit_addrs list;

/* The addresses of value, blank-separated ("" when none), or "ERROR". */
static const char *addrs(const char *value)
{
	static char out[4096];
	const char *error = NULL;
	size_t n = 0;

	list.count = 0;
	if (xmit_addr_list(value, strlen(value), &list, &error) < 0)
		return error != NULL ? "ERROR" : "ERROR without a reason";
	out[0] = '\0';
	for (unsigned i = 0; i < list.count; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
				      i > 0 ? " " : "", list.addr[i]);
	return out;
}

static void test_address_lists(void)
{
	CHECK_STR(addrs(" a@b.example"), "a@b.example", "bare addr-spec");
	CHECK_STR(addrs("A <a@b.example>, c@d.example"),
		  "a@b.example c@d.example", "name-addr and addr-spec");
	CHECK_STR(addrs("\"Doe, Jane\" <j@x.example>"), "j@x.example",
		  "a comma inside a quoted display name");
	CHECK_STR(addrs("x@y.example (a comment, (nested) here)"),
		  "x@y.example", "nested comments");
	CHECK_STR(addrs("\"a@evil.example\" <me@x.example>"), "me@x.example",
		  "an address-looking display name is not the address");
	CHECK_STR(addrs("friends: a@x.example, b@x.example;, c@x.example"),
		  "a@x.example b@x.example c@x.example", "a group");
	CHECK_STR(addrs("undisclosed-recipients:;"), "", "an empty group");
	CHECK_STR(addrs("a@x.example,\r\n\tb@x.example"),
		  "a@x.example b@x.example", "folded");
	CHECK_STR(addrs("<@route.example:a@x.example>"), "a@x.example",
		  "an obsolete route is dropped");
	CHECK_STR(addrs("A@X.example, a@x.EXAMPLE"), "A@X.example",
		  "duplicates once (case-insensitive)");
	CHECK_STR(addrs("\"a b\"@x.example"), "\"a b\"@x.example",
		  "a quoted local part kept");
	CHECK_STR(addrs(""), "", "empty value");
	CHECK_STR(addrs("nobody"), "ERROR", "no @");
	CHECK_STR(addrs("a@"), "ERROR", "no domain");
	CHECK_STR(addrs("<a@x.example"), "ERROR", "unclosed <");
	CHECK_STR(addrs("a@x.example>"), "ERROR", "stray >");
	CHECK_STR(addrs("\"open <a@x.example>"), "ERROR", "unclosed quote");
	CHECK_STR(addrs("a@x.example (open"), "ERROR", "unclosed comment");
	CHECK_STR(addrs("<a@x.example;>"), "ERROR", "; inside <>");
	CHECK_STR(addrs("<>"), "", "<> is no address");
	CHECK_STR(addrs("j\xc3\xb6@x.example"), "ERROR", "8-bit address");
	CHECK(xmit_addr_list("a@b\0c", 5, &list, &(const char *){ NULL }) < 0,
	      "NUL refused");
	{
		char big[400];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		big[10] = '@';
		CHECK_STR(addrs(big), "ERROR", "an address over 254 octets");
	}
	{
		char many[XMIT_RCPT_MAX * 16 + 32];
		size_t n = 0;

		for (int i = 0; i <= XMIT_RCPT_MAX; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
					      "r%d@x.example,", i);
		CHECK_STR(addrs(many), "ERROR", "more than XMIT_RCPT_MAX");
	}
	CHECK(xmit_addr_valid("a@b.example") && !xmit_addr_valid("a b@c") &&
	      !xmit_addr_valid("@c") && !xmit_addr_valid("a@b>"),
	      "xmit_addr_valid");
	CHECK(xmit_addr_equal("Alice@Example.org", "alice@example.ORG"),
	      "case-insensitive compare");
}

static void test_parse(void)
{
	static const char msg[] =
		"From: Me <me@x.example>\r\n"
		"Sender: me@x.example\r\n"
		"To: a@x.example,\r\n b@x.example\r\n"
		"bcc: hidden@x.example,\r\n\thidden2@x.example\r\n"
		"Subject: hi\r\n"
		"\r\n"
		"Bcc: in the body@stays\r\n";
	static const char want[] =
		"From: Me <me@x.example>\r\n"
		"Sender: me@x.example\r\n"
		"To: a@x.example,\r\n b@x.example\r\n"
		"Subject: hi\r\n"
		"\r\n"
		"Bcc: in the body@stays\r\n";
	static struct xmit_addrs from, rcpts;
	char out[sizeof(msg)];
	const char *error = NULL;
	size_t out_len = 0;
	unsigned code;
	bool more;

	CHECK(xmit_msg_parse(msg, sizeof(msg) - 1, &from, &rcpts, out,
			     &out_len, &error) == 0, "parses");
	CHECK(from.count == 1 && strcmp(from.addr[0], "me@x.example") == 0,
	      "From: and Sender: (the same address once)");
	CHECK(rcpts.count == 4 && strcmp(rcpts.addr[3], "hidden2@x.example")
	      == 0, "To: and a folded Bcc: (any case)");
	CHECK(out_len == sizeof(want) - 1 && memcmp(out, want, out_len) == 0,
	      "Bcc: and its continuation removed, the body untouched");
	CHECK(xmit_msg_parse("From: me@x\nTo: a@x\n", 19, &from, &rcpts, out,
			     &out_len, &error) == 0 && out_len == 19 &&
	      rcpts.count == 1, "LF lines, a header without a body");
	CHECK(xmit_msg_parse("no colon here\r\n\r\n", 17, &from, &rcpts, out,
			     &out_len, &error) < 0 && error != NULL,
	      "a line that is no field");
	CHECK(xmit_msg_parse(" leading: blank\r\n", 17, &from, &rcpts, out,
			     &out_len, &error) < 0, "a continuation first");
	CHECK(xmit_msg_parse("To: <a@x\r\n\r\n", 12, &from, &rcpts, out,
			     &out_len, &error) < 0, "a bad To:");

	CHECK(xmit_smtp_reply_line("250 ok", 6, &code, &more) == 0 &&
	      code == 250 && !more, "250 ok");
	CHECK(xmit_smtp_reply_line("250-PIPELINING", 14, &code, &more) == 0 &&
	      code == 250 && more, "250- continues");
	CHECK(xmit_smtp_reply_line("354", 3, &code, &more) == 0 &&
	      code == 354 && !more, "a bare code");
	CHECK(xmit_smtp_reply_line("25", 2, &code, &more) < 0 &&
	      xmit_smtp_reply_line("250x", 4, &code, &more) < 0 &&
	      xmit_smtp_reply_line("650 no", 6, &code, &more) < 0 &&
	      xmit_smtp_reply_line("1xx", 3, &code, &more) < 0,
	      "not reply lines");
}

int main(void)
{
	test_address_lists();
	test_parse();
	return unit_done();
}
