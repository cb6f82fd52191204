/* test-fetch_fingerprint.c: a message's header fingerprint
 * (fetch_fingerprint.c): what must give the same one (CRLF or LF,
 * folding, name case, white space, the body, how the input is split)
 * and what must not (another value, another field's value). */
#include <stdio.h>
#include <string.h>

#include "fetch/fetch_fingerprint.h"
#include "unit.h"

static char last[FETCH_FINGERPRINT_HEX + 1];

/* The fingerprint of text, fed in pieces of step octets (0: at once);
 * "" when it has none. */
static const char *print(const char *text, size_t step)
{
	struct fetch_fingerprint *fp = fetch_fingerprint_new();
	size_t len = strlen(text), i;

	if (fp == NULL)
		return "(no memory)";
	for (i = 0; i < len; i += step == 0 ? len : step)
		fetch_fingerprint_feed(fp, text + i,
				       step == 0 || len - i < step ? len - i :
								     step);
	if (!fetch_fingerprint_finish(fp, last))
		last[0] = '\0';
	fetch_fingerprint_free(&fp);
	return last;
}

static bool same(const char *a, const char *b)
{
	char first[FETCH_FINGERPRINT_HEX + 1];

	snprintf(first, sizeof(first), "%s", print(a, 0));
	return first[0] != '\0' && strcmp(first, print(b, 0)) == 0;
}

static const char *base = "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\nSubject: hello there\n\nbody\n";

int main(void)
{
	char first[FETCH_FINGERPRINT_HEX + 1];

	CHECK(strlen(print(base, 0)) == FETCH_FINGERPRINT_HEX, "hex digits");
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
	snprintf(first, sizeof(first), "%s", print(base, 0));
	CHECK(strcmp(first, print(base, 1)) == 0 &&
		      strcmp(first, print(base, 7)) == 0,
	      "fed octet by octet or in pieces: the same");
	CHECK(!same(base, "Message-ID: <2@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\nSubject: hello there\n\n"),
	      "another Message-ID: another fingerprint");
	CHECK(!same("Subject: ab\nFrom: c\n\n", "Subject: a\nFrom: bc\n\n"),
	      "values cannot shift between fields");
	CHECK(!same(base, "Message-ID: <1@x>\nDate: Mon, 1 Dec 2026\n"
			  "From: A <a@b>\n\nSubject: hello there\n"),
	      "a field in the body is not the header's");
	CHECK(print("X-Other: 1\n\nSubject: in the body\n", 0)[0] == '\0',
	      "none of the four fields: no fingerprint");
	CHECK(print("", 0)[0] == '\0', "empty: no fingerprint");
	return unit_done();
}
