/* test-saslprep.c: RFC 4013 preparation (auth/saslprep.c): the RFC's
 * examples, the two profiles, UTF-8 validity and the bounds. */
#include <string.h>

#include "auth/saslprep.h"
#include "unit.h"

static const char *prep(const char *in, enum saslprep_profile profile)
{
	static char out[64];

	if (saslprep_string(in, profile, out, sizeof(out)) < 0)
		return "REFUSED";
	return out;
}

int main(void)
{
	char small[4];

	/* RFC 4013 3. examples */
	CHECK_STR(prep("I\xc2\xadX", SASLPREP_STORED), "IX", "SOFT HYPHEN");
	CHECK_STR(prep("user", SASLPREP_STORED), "user", "no transformation");
	CHECK_STR(prep("USER", SASLPREP_STORED), "USER", "case preserved");
	CHECK_STR(prep("\xc2\xaa", SASLPREP_STORED), "a", "U+00AA to a");
	CHECK_STR(prep("\xe2\x85\xa8", SASLPREP_STORED), "IX", "U+2168 to IX");
	CHECK_STR(prep("\x07", SASLPREP_STORED), "REFUSED", "control char");
	CHECK_STR(prep("\xd8\xa7" "1", SASLPREP_STORED), "REFUSED",
		  "bidi rule");
	CHECK_STR(prep("a\xc2\xa0" "b", SASLPREP_QUERY), "a b",
		  "no-break space to space");
	CHECK_STR(prep("o\xcc\x88", SASLPREP_QUERY), "\xc3\xb6", "NFKC");
	/* U+0221 is unassigned in Unicode 3.2 (RFC 3454's table A.1) */
	CHECK_STR(prep("\xc8\xa1", SASLPREP_QUERY), "\xc8\xa1",
		  "unassigned: allowed in a query");
	CHECK_STR(prep("\xc8\xa1", SASLPREP_STORED), "REFUSED",
		  "unassigned: refused as a stored string");
	/* an emoji (Unicode 6.0): what a UTF-8 password may hold */
	CHECK_STR(prep("pw\xf0\x9f\x98\x80", SASLPREP_QUERY),
		  "pw\xf0\x9f\x98\x80", "an emoji in a query");
	CHECK_STR(prep("\xc2\xad", SASLPREP_STORED), "REFUSED",
		  "empty after mapping");
	CHECK_STR(prep("\xe9t\xe9", SASLPREP_QUERY), "REFUSED", "not UTF-8");
	CHECK(saslprep_string("abcd", SASLPREP_QUERY, small,
			      sizeof(small)) < 0, "does not fit");
	CHECK(saslprep_string("abc", SASLPREP_QUERY, small,
			      sizeof(small)) == 0 && strcmp(small, "abc") == 0,
	      "fits exactly");

	CHECK(saslprep_utf8_valid("\xc3\xb6", 2), "valid 2-octet");
	CHECK(!saslprep_utf8_valid("\xc0\xaf", 2), "overlong");
	CHECK(!saslprep_utf8_valid("\xed\xa0\x80", 3), "surrogate");
	CHECK(!saslprep_utf8_valid("\xf4\x90\x80\x80", 4), "over U+10FFFF");
	CHECK(!saslprep_utf8_valid("\xc3", 1), "cut");
	CHECK(!saslprep_utf8_valid("a\0b", 3), "NUL");
	CHECK(saslprep_non_ascii("a\xc3\xb6") && !saslprep_non_ascii("ab~"),
	      "non-ASCII test");
	return unit_done();
}
