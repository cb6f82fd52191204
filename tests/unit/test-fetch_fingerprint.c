/* test-fetch_fingerprint.c: a message's header fingerprint
 * (fetch_fingerprint.c): what must give the same one (CRLF or LF,
 * folding, name case, white space, the body, how the input is split)
 * and what must not (another value, another field's value). */
#include <stdio.h>
#include <string.h>

#include "fetch/fetch_fingerprint.h"
#include "fetch/fetch_header.h"
#include "unit.h"

/* fetch_header_get, what the fingerprint, --preview and --skip-header
 * read */
static void test_header(void)
{
	const char *h = "From: a\r\nSubject: one\r\n two\t three \r\n"
			"subject: second\r\nX-Empty:\r\n\r\nDate: body\r\n";
	char out[64], tiny[5];

	CHECK(fetch_header_get(h, strlen(h), "SUBJECT", out, sizeof(out)) &&
		      strcmp(out, "one two three") == 0,
	      "header: the first, unfolded, white space one space");
	CHECK(fetch_header_get(h, strlen(h), "x-empty", out, sizeof(out)) &&
		      out[0] == '\0',
	      "header: an empty field is there, empty");
	CHECK(!fetch_header_get(h, strlen(h), "Date", out, sizeof(out)) &&
		      out[0] == '\0',
	      "header: a field in the body is not in the header");
	CHECK(!fetch_header_get(h, strlen(h), "Subj", out, sizeof(out)),
	      "header: a prefix of a name is not the name");
	CHECK(fetch_header_get(h, strlen(h), "Subject", tiny, sizeof(tiny)) &&
		      strcmp(tiny, "one ") == 0,
	      "header: cut at the buffer, NUL-terminated");
	CHECK(fetch_header_get(h, 19, "Subject", out, sizeof(out)) &&
		      strcmp(out, "o") == 0,
	      "header: bounded by len");
}

static char last[FETCH_FINGERPRINT_HEX + 1];

/* The fingerprint of text; "" when it has none. */
static const char *print(const char *text)
{
	if (!fetch_fingerprint(text, strlen(text), last))
		last[0] = '\0';
	return last;
}

static bool same(const char *a, const char *b)
{
	char first[FETCH_FINGERPRINT_HEX + 1];

	snprintf(first, sizeof(first), "%s", print(a));
	return first[0] != '\0' && strcmp(first, print(b)) == 0;
}

static const char *base = "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\nSubject: hello there\n\nbody\n";

int main(void)
{
	char first[FETCH_FINGERPRINT_HEX + 1];

	CHECK(strlen(print(base)) == FETCH_FINGERPRINT_HEX, "hex digits");
	CHECK(same(base, "Message-ID: <1@x>\r\nDate: Mon, 1 Dec 2026\r\n"
			 "From: A <a@b>\r\nSubject: hello there\r\n\r\nbody\r\n"),
	      "CRLF and LF give the same");
	CHECK(same(base, "message-id: <1@x>\nDATE: Mon, 1 Dec 2026\n"
			 "from:A <a@b>\nsubject:   hello \t there  \n\nbody\n"),
	      "name case and white space do not count");
	CHECK(same(base, "Message-ID:\n <1@x>\nDate: Mon,\n\t1 Dec 2026\n"
			 "From: A <a@b>\nSubject: hello\n there\n\n"),
	      "folded values are unfolded");
	CHECK(same(base, "Received: from x\nMessage-ID: <1@x>\nX-UIDL: 7\n"
			 "Date: Mon, 1 Dec 2026\nFrom: A <a@b>\n"
			 "Subject: hello there\nStatus: RO\n\nother body\n"),
	      "other fields and the body do not count");
	CHECK(same(base, "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			 "From: A <a@b>\nSubject: hello there\n"),
	      "a header alone (TOP n 0 without the empty line)");
	CHECK(same(base, "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			 "From: A <a@b>\nSubject: hello there\n"
			 "Subject: a second one\n\n"),
	      "the first of each field counts");
	snprintf(first, sizeof(first), "%s", print(base));
	CHECK(fetch_fingerprint(base, 40, first) ||
		      !fetch_fingerprint(base, 40, first),
	      "a header cut short is no crash");
	CHECK(!same(base, "Message-ID: <2@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\nSubject: hello there\n\n"),
	      "another Message-ID: another fingerprint");
	CHECK(!same("Subject: ab\nFrom: c\n\n", "Subject: a\nFrom: bc\n\n"),
	      "values cannot shift between fields");
	CHECK(!same(base, "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\n\nSubject: hello there\n"),
	      "a field in the body is not the header's");
	CHECK(print("X-Other: 1\n\nSubject: in the body\n")[0] == '\0',
	      "none of the four fields: no fingerprint");
	CHECK(print("")[0] == '\0', "empty: no fingerprint");
	test_header();
	return unit_done();
}
