/* test-mimescan.c: which messages need UTF-8 mode (RFC 6856 5.): UTF-8
 * in the header, in a MIME part's header (nested, folded boundary
 * parameters, quoted or not), in an embedded message's header; not in a
 * body, a preamble or after the closing boundary; any chunking. */
#include <stdlib.h>
#include <string.h>

#include "store/mimescan.h"
#include "unit.h"

/* The answer with the message fed in chunks of every size 1..7. */
static int needs(const char *msg)
{
	size_t len = strlen(msg);
	int answer = -1;

	for (size_t chunk = 1; chunk <= 7; chunk++) {
		struct mimescan ms;
		int got;

		mimescan_init(&ms);
		for (size_t pos = 0; pos < len; pos += chunk)
			(void)mimescan_feed(&ms, msg + pos, len - pos < chunk ?
					    len - pos : chunk);
		got = mimescan_needs_utf8(&ms) ? 1 : 0;
		if (answer >= 0 && got != answer)
			return 2; /* depends on the split: a bug */
		answer = got;
	}
	return answer;
}

int main(void)
{
	CHECK(needs("Subject: plain\n\nbody\n") == 0, "ASCII message");
	CHECK(needs("Subject: gr\xc3\xbc\xc3\x9f\x65\n\nbody\n") == 1,
	      "UTF-8 Subject");
	CHECK(needs("Subject: x\r\n\r\nbody \xc3\xa9\r\n") == 0,
	      "UTF-8 in the body only (CRLF)");
	CHECK(needs("Subject: x\n Folded \xc3\xa9\n\nb\n") == 1,
	      "UTF-8 in a continuation line");
	CHECK(needs("Content-Type: multipart/mixed; boundary=b1\n\n"
		    "pre \xc3\xa9\n--b1\nContent-Type: text/plain\n\n"
		    "t\xc3\xa9xt\n--b1--\nepilogue \xc3\xa9\n") == 0,
	      "preamble, part body, epilogue may be 8-bit");
	CHECK(needs("Content-Type: multipart/mixed;\n\tboundary=\"b 1\"\n\n"
		    "--b 1\nContent-Disposition: attachment; "
		    "filename=\"r\xc3\xa9sum\xc3\xa9\"\n\nx\n--b 1--\n") == 1,
	      "UTF-8 in a part header (folded, quoted boundary)");
	CHECK(needs("Content-Type: Multipart/Mixed; BOUNDARY=outer\n\n"
		    "--outer\nContent-Type: multipart/alternative; "
		    "boundary=inner\n\n--inner\nContent-Type: text/plain\n\n"
		    "a\n--inner\nSubject-Ish: \xc3\xa9\n\nb\n--inner--\n"
		    "--outer--\n") == 1, "a nested part's header");
	CHECK(needs("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
		    "Content-Type: message/rfc822\n\nSubject: \xc3\xa9\n\n"
		    "x\n--b--\n") == 1, "an embedded message's header");
	CHECK(needs("Content-Type: multipart/mixed; boundary=b\n\n--bx\n"
		    "Not-A-Part: \xc3\xa9\n\n--b--\n") == 0,
	      "a line that only begins with the boundary is body");
	CHECK(needs("Content-Type: text/plain; boundary=b\n\n--b\n"
		    "X: \xc3\xa9\n\n") == 0,
	      "a boundary of a non-multipart means nothing");
	CHECK(needs("Content-Type: multipart/mixed; boundary=b\n\n--b--\n"
		    "--b\nX: \xc3\xa9\n\n") == 0,
	      "after the closing boundary: epilogue");
	CHECK(needs("") == 0 && needs("\xc3\xa9") == 1,
	      "empty message; a header line without LF");
	return unit_done();
}
