/* test-fetch_mark.c: the no-news mark (fetch_mark.c): its text round
 * trips, anything else parses as none, a missing or torn file is none,
 * and when a mark may stand for a full listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/fetch_mark.h"
#include "unit.h"

static struct fetch_mark sample(void)
{
	struct fetch_mark m = { .count = 100000, .octets = 18055560,
				.listed_at = 1796223077, .due = 0,
				.ident = 7423767854734317161ull };

	snprintf(m.first, sizeof(m.first), "1700000000.M0P3.bench");
	memset(m.last, 'u', MAILDROP_UIDL_MAX);
	m.last[MAILDROP_UIDL_MAX] = '\0';
	return m;
}

static bool parses(const char *text)
{
	struct fetch_mark m;

	return fetch_mark_parse(text, strlen(text), &m) == 0;
}

static void test_round_trip(void)
{
	struct fetch_mark m = sample(), back;
	char text[FETCH_MARK_TEXT_MAX + 1], small[20];
	int n = fetch_mark_format(&m, text, sizeof(text));

	CHECK(n > 0 && text[n - 1] == '\n', "format: one line");
	CHECK(fetch_mark_parse(text, (size_t)n, &back) == 0 &&
		      back.count == m.count && back.octets == m.octets &&
		      back.listed_at == m.listed_at && back.due == m.due &&
		      back.ident == m.ident && strcmp(back.first, m.first) == 0 &&
		      strcmp(back.last, m.last) == 0,
	      "parse(format(m)) == m, with a 70-octet UIDL");
	CHECK(fetch_mark_format(&m, small, sizeof(small)) == -1,
	      "format: too small a buffer is -1");
	m.octets = UINT64_MAX - 1;
	m.due = 2000000000;
	n = fetch_mark_format(&m, text, sizeof(text));
	CHECK(n > 0 && (size_t)n <= FETCH_MARK_TEXT_MAX &&
		      fetch_mark_parse(text, (size_t)n, &back) == 0 &&
		      back.octets == m.octets && back.due == m.due,
	      "the largest numbers fit FETCH_MARK_TEXT_MAX");
}

static void test_invalid(void)
{
	CHECK(parses("v1 1 2 3 4 5 a b\n") && parses("v1 1 2 3 4 5 a b"),
	      "valid with and without the line end");
	CHECK(!parses(""), "empty: none");
	CHECK(!parses("v2 1 2 3 4 5 a b\n"), "another version: none");
	CHECK(!parses("v1 0 2 3 4 5 a b\n"), "an empty mailbox has no mark");
	CHECK(!parses("v1 1 2 3 4 5 a\n"), "a field missing: none");
	CHECK(!parses("v1 1 2 3 4 5 a b c\n"), "a field too many: none");
	CHECK(!parses("v1 1 2 3 4 5 a  b\n"), "two spaces: none");
	CHECK(!parses("v1 x 2 3 4 5 a b\n") && !parses("v1 1 -2 3 4 5 a b\n"),
	      "numbers only");
	CHECK(!parses("v1 4294967296 2 3 4 5 a b\n"), "count beyond 32 bits");
	CHECK(!parses("v1 1 2 3 4 5 a\x01 b\n"), "a control octet in a UIDL");
	CHECK(!parses("v1 1 2 3 4 5 a b\n\n"), "junk after the line");
}

static void test_files(void)
{
	char dir[] = "/tmp/test-fetch_mark.XXXXXX", path[100];
	struct fetch_mark m = sample(), back;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/acct.mark", dir);
	CHECK(fetch_mark_read(path, &back) == -1, "no file: no mark");
	CHECK(fetch_mark_write(path, &m) == 0 &&
		      fetch_mark_read(path, &back) == 0 &&
		      strcmp(back.last, m.last) == 0,
	      "written, read back");
	f = fopen(path, "w");
	if (f == NULL || fputs("v1 100000 18055", f) < 0)
		abort();
	fclose(f);
	CHECK(fetch_mark_read(path, &back) == -1, "a torn file: no mark");
	fetch_mark_remove(path);
	CHECK(access(path, F_OK) != 0, "removed");
	fetch_mark_remove(path); /* again: no error */
	rmdir(dir);
}

static void test_usable(void)
{
	struct fetch_mark m = sample();
	time_t t = m.listed_at;

	CHECK(fetch_mark_usable(&m, m.ident, t + 60), "fresh and ours");
	CHECK(!fetch_mark_usable(&m, m.ident + 1, t + 60),
	      "another account's (or keep setting's)");
	CHECK(!fetch_mark_usable(&m, m.ident, t + FETCH_MARK_MAX_AGE),
	      "a day old: a full listing is due");
	CHECK(!fetch_mark_usable(&m, m.ident, t - 1),
	      "from the future (the clock went back)");
	m.due = t + 120;
	CHECK(fetch_mark_usable(&m, m.ident, t + 119) &&
		      !fetch_mark_usable(&m, m.ident, t + 120),
	      "not once a kept message is due for deletion");
}

int main(void)
{
	test_round_trip();
	test_invalid();
	test_files();
	test_usable();
	return unit_done();
}
