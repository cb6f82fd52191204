/* test-cmdparse.c: command splitting, lookup and the checked numbers. */
#include <stdint.h>

#include "serve/cmdparse.h"
#include "util/strnum.h"
#include "unit.h"

static enum cmd_outcome dummy(struct session *s, const struct cmd_args *a)
{
	return CMD_DONE;
}

static const struct command table[] = {
	{ "USER", 1, 1, 1, false, dummy },
	{ "PASS", 1, 1, 1, true, dummy },
	{ "TOP", 2, 2, 2, false, dummy },
};

static void test_split(void)
{
	struct cmd_args args;
	char line1[] = "top 1 10";
	char line2[] = "PASS  secret with spaces";
	char line3[] = "LIST  1   2 3 4 5 6";
	char line4[] = "AVERYLONGKEYWORDTHATISNOTACOMMAND";
	char line5[] = "";

	CHECK(cmdparse_verb(line1, &args) == 0, "verb parsed");
	CHECK(cmdparse_find(table, 3, args.verb) == &table[2],
	      "lookup is case-insensitive");
	cmdparse_args(&args, false);
	CHECK(args.argc == 2, "two arguments");
	CHECK_STR(args.argv[0], "1", "first argument");
	CHECK_STR(args.argv[1], "10", "second argument");

	CHECK(cmdparse_verb(line2, &args) == 0, "PASS verb");
	cmdparse_args(&args, true);
	CHECK(args.argc == 1, "rest-of-line is one argument");
	CHECK_STR(args.argv[0], " secret with spaces",
		  "PASS keeps spaces after the single separator");

	CHECK(cmdparse_verb(line3, &args) == 0, "LIST verb");
	cmdparse_args(&args, false);
	CHECK(args.argc == 6, "counts arguments beyond the kept ones");

	CHECK(cmdparse_verb(line4, &args) < 0, "over-long keyword refused");
	CHECK(cmdparse_verb(line5, &args) < 0, "empty line refused");
	CHECK(cmdparse_find(table, 3, "LAST") == NULL, "unknown command");
}

static void test_numbers(void)
{
	uint64_t v;

	CHECK(strnum_parse_u64("42", 100, &v) == 0 && v == 42, "plain number");
	CHECK(strnum_parse_u64("0", 100, &v) == 0 && v == 0, "zero parses");
	CHECK(strnum_parse_u64("", 100, &v) < 0, "empty refused");
	CHECK(strnum_parse_u64("-1", 100, &v) < 0, "sign refused");
	CHECK(strnum_parse_u64("+1", 100, &v) < 0, "plus refused");
	CHECK(strnum_parse_u64(" 1", 100, &v) < 0, "blank refused");
	CHECK(strnum_parse_u64("1x", 100, &v) < 0, "trailing junk refused");
	CHECK(strnum_parse_u64("101", 100, &v) < 0, "above max refused");
	CHECK(strnum_parse_u64("9", 5, &v) < 0, "digit above a small max");
	CHECK(strnum_parse_u64("5", 5, &v) == 0 && v == 5, "max itself");
	CHECK(strnum_parse_u64("99999999999999999999", UINT64_MAX, &v) < 0,
	      "overflow refused");
	CHECK(strnum_parse_u64("18446744073709551615", UINT64_MAX, &v) == 0 &&
	      v == UINT64_MAX, "UINT64_MAX parses");
}

int main(void)
{
	test_split();
	test_numbers();
	return unit_done();
}
