/* test-pop3reply.c: the fetch client's reply parsers (pop3reply.c):
 * status lines with RFC 2449 response codes, and the multi-line body
 * decoder fed at every split point, against a plain reference. */
#include <stdlib.h>
#include <string.h>

#include "fetch/pop3reply.h"
#include "unit.h"

static void test_status(void)
{
	struct pop3_status st;

	CHECK(pop3_status_parse("+OK 2 320", 9, &st) == POP3_OK &&
		      st.text_len == 5 && memcmp(st.text, "2 320", 5) == 0 &&
		      st.code[0] == '\0',
	      "status: +OK with text");
	CHECK(pop3_status_parse("+OK", 3, &st) == POP3_OK && st.text_len == 0,
	      "status: +OK alone");
	CHECK(pop3_status_parse("+OKAY", 5, &st) == POP3_BAD,
	      "status: +OKAY is not +OK");
	CHECK(pop3_status_parse("-ERRor", 6, &st) == POP3_BAD,
	      "status: -ERRor is not -ERR");
	CHECK(pop3_status_parse("ok", 2, &st) == POP3_BAD,
	      "status: lower case is not a status");
	CHECK(pop3_status_parse("", 0, &st) == POP3_BAD, "status: empty");
	CHECK(pop3_status_parse("-ERR [IN-USE] locked", 20, &st) == POP3_ERR &&
		      strcmp(st.code, "IN-USE") == 0 && st.text_len == 6 &&
		      pop3_code_is(&st, "IN-USE") &&
		      !pop3_code_is(&st, "IN"),
	      "status: [IN-USE] code, text after it");
	CHECK(pop3_status_parse("-ERR [SYS/TEMP] later", 21, &st) ==
			      POP3_ERR &&
		      pop3_code_is(&st, "SYS/TEMP") && pop3_code_is(&st, "SYS") &&
		      !pop3_code_is(&st, "SYS/PERM"),
	      "status: [SYS/TEMP] has the SYS root");
	CHECK(pop3_status_parse("-ERR [auth] no", 14, &st) == POP3_ERR &&
		      pop3_code_is(&st, "AUTH"),
	      "status: codes are case-insensitive");
	CHECK(pop3_status_parse("-ERR [broken text", 17, &st) == POP3_ERR &&
		      st.code[0] == '\0' && st.text_len == 12,
	      "status: a [ without ] is text");
	CHECK(pop3_status_parse("-ERR [] x", 9, &st) == POP3_ERR &&
		      st.code[0] == '\0',
	      "status: an empty code is no code");
	CHECK(pop3_status_parse("+ abc=", 6, &st) == POP3_CONTINUE &&
		      st.text_len == 4,
	      "status: '+ ' is a SASL challenge");
	CHECK(pop3_status_parse("+", 1, &st) == POP3_CONTINUE &&
		      st.text_len == 0,
	      "status: a lone + is an empty challenge");
	{
		char line[200];

		memset(line, 'A', sizeof(line));
		memcpy(line, "-ERR [", 6);
		line[199] = ']';
		CHECK(pop3_status_parse(line, sizeof(line), &st) == POP3_ERR &&
			      st.code[0] == '\0',
		      "status: an over-long code is text");
	}
}

/* The decoding as the RFC says it, line by line, for comparison. */
static size_t reference(const char *in, size_t len, char *out, size_t *used)
{
	size_t i = 0, o = 0;

	while (i < len) {
		const char *lf = memchr(in + i, '\n', len - i);
		size_t end, start = i;

		if (lf == NULL)
			break;
		end = (size_t)(lf - in);
		i = end + 1;
		if (end > start && in[end - 1] == '\r')
			end--;
		if (end - start == 1 && in[start] == '.') {
			*used = i;
			return o;
		}
		if (in[start] == '.')
			start++;
		memcpy(out + o, in + start, end - start);
		o += end - start;
		out[o++] = '\n';
	}
	*used = (size_t)-1;
	return o;
}

static void test_body(const char *name, const char *in, size_t len)
{
	char want[512], got[1024], msg[160];
	size_t want_len, want_used, split;
	bool ok = true;

	want_len = reference(in, len, want, &want_used);
	/* one split at every point, and also byte by byte */
	for (split = 0; split <= len + 1 && ok; split++) {
		struct pop3_body b;
		size_t got_len = 0, used = 0, step = split <= len ? split : 1;
		bool bytewise = split == len + 1;

		pop3_body_init(&b);
		while (used < len && !b.done) {
			size_t piece = bytewise ? 1 :
				       used == 0 && step > 0 ? step :
							       len - used;
			size_t n, out_len;

			if (piece > len - used)
				piece = len - used;
			n = pop3_body_decode(&b, in + used, piece, got + got_len,
					     &out_len);
			ok = ok && n <= piece && out_len <= piece + 2;
			got_len += out_len;
			used += n;
			if (n < piece)
				break;
		}
		ok = ok && b.done == (want_used != (size_t)-1) &&
		     (!b.done || used == want_used) &&
		     (!b.done || (got_len == want_len &&
				  memcmp(got, want, want_len) == 0)) &&
		     b.octets == got_len;
	}
	snprintf(msg, sizeof(msg), "body: %s, every split", name);
	CHECK(ok, msg);
}

int main(void)
{
	static const char tricky[] = "Subject: x\r\n\r\n..leading dot\r\n"
				     ".\r\n"; /* stuffed "." line is "..\r\n" */
	static const char stuffed[] = "a\r\n..\r\n...\r\n.x\r\nb\r\n.\r\n";
	static const char lf_only[] = "a\n..b\nc\n.\n+OK next";
	static const char lone_cr[] = "a\rb\r\n\r\r\n.\r\n";
	static const char binary[] = "\0\x80\xff\r\n\r\n\0.\r\n.\r\nX";
	static const char next[] = "line\r\n.\r\n+OK 1 2\r\n";
	static const char cr_dot[] = ".\rx\r\n.\r\n";
	static const char unterminated[] = "a\r\nb\r\n.x";

	test_status();
	test_body("a tricky message", tricky, sizeof(tricky) - 1);
	test_body("stuffed dot lines", stuffed, sizeof(stuffed) - 1);
	test_body("bare LF and the next reply", lf_only, sizeof(lf_only) - 1);
	test_body("lone CRs kept", lone_cr, sizeof(lone_cr) - 1);
	test_body("NUL and 8-bit", binary, sizeof(binary) - 1);
	test_body("stops after the terminator", next, sizeof(next) - 1);
	test_body("a line '.\\rx' is stuffed", cr_dot, sizeof(cr_dot) - 1);
	test_body("no terminator: not done", unterminated,
		  sizeof(unterminated) - 1);
	{
		struct pop3_body b;
		char out[64];
		size_t out_len, n;

		pop3_body_init(&b);
		n = pop3_body_decode(&b, next, sizeof(next) - 1, out, &out_len);
		CHECK(b.done && n == 9 && out_len == 5 &&
			      memcmp(out, "line\n", 5) == 0 && b.lines == 1,
		      "body: consumed ends right after '.\\r\\n'");
	}
	return unit_done();
}
