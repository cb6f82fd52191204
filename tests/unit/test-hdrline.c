/* test-hdrline.c: header field values from raw message lines (the mbox
 * reader's X-UIDL, Message-ID, Date; migrate's --from x-uidl). */
#include <string.h>

#include "store/hdrline.h"
#include "unit.h"

static const char *find(const char *msg, const char *name)
{
	static char out[128];
	const char *v;
	size_t len;
	int r = hdrline_find(msg, strlen(msg), name, &v, &len);

	if (r < 0)
		return "FOLDED";
	if (r == 0)
		return "NONE";
	snprintf(out, sizeof(out), "%.*s", (int)len, v);
	return out;
}

int main(void)
{
	const char *v = NULL;
	size_t len = 0;

	CHECK_STR(find("From: a\nX-UIDL: 5f1e\nSubject: x\n\nbody\n",
		       "X-UIDL:"), "5f1e", "plain");
	CHECK_STR(find("x-uidl:\t abc \r\nX-UIDL: second\n\n", "X-UIDL:"),
		  "abc", "case, blanks, CRLF, the first wins");
	CHECK_STR(find("From: a\n\nX-UIDL: in the body\n", "X-UIDL:"),
		  "NONE", "not in the body");
	CHECK_STR(find("From: a\r\n\r\nX-UIDL: b\r\n", "X-UIDL:"), "NONE",
		  "CRLF empty line ends the header");
	CHECK_STR(find("X-UIDL: abc\n def\n\n", "X-UIDL:"), "FOLDED",
		  "folded");
	CHECK_STR(find("X-UIDLS: abc\n\n", "X-UIDL:"), "NONE",
		  "another field");
	CHECK_STR(find("X-UIDL: last-line-no-lf", "X-UIDL:"),
		  "last-line-no-lf", "a header without an end");
	CHECK_STR(find("", "X-UIDL:"), "NONE", "empty");
	CHECK_STR(find("X-UIDL:\n\n", "X-UIDL:"), "", "empty value");
	hdrline_value("Date: now\n", 10, "Date:", &v, &len);
	CHECK(v != NULL && len == 3 && memcmp(v, "now", 3) == 0,
	      "hdrline_value");
	hdrline_value("Date: later\n", 12, "Date:", &v, &len);
	CHECK(len == 3, "hdrline_value: the first occurrence stays");
	return unit_done();
}
