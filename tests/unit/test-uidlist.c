/* test-uidlist.c: Dovecot's dovecot-uidlist parser (what is accepted,
 * what is refused and on which line) and pop3_uidl_format expansion. */
#include <string.h>

#include "store/uidlist.h"
#include "unit.h"

static struct uidlist *parse(const char *text, const char **error_r,
			     size_t *line_r)
{
	struct uidlist *list = NULL;
	const char *error = NULL;
	size_t line = 0;

	if (uidlist_parse(text, strlen(text), &list, &error, &line) < 0)
		list = NULL;
	if (error_r != NULL)
		*error_r = error;
	if (line_r != NULL)
		*line_r = line;
	return list;
}

static const char *uidl(const char *tmpl, const struct uidlist *list,
			size_t i)
{
	static char out[71];
	const char *error;

	if (uidlist_uidl(tmpl, list, &list->entries[i], out, sizeof(out),
			 &error) < 0)
		return "ERROR";
	return out;
}

static void test_parse(void)
{
	struct uidlist *list;

	list = parse("3 V1700000000 N5 G4a1f0b\n"
		     "1 W1030 S1000 :1276528487.M364837P9451.kurkku,S=1000,W=1030\n"
		     "2 GFFEE :1276528488.M1P2.h:2,S\n"
		     "4 P0123-kept Xunknown :odd name with spaces\n", NULL,
		     NULL);
	CHECK(list != NULL, "a version 3 list parses");
	if (list == NULL)
		return;
	CHECK(list->uidvalidity == 1700000000 && list->next_uid == 5,
	      "header V and N");
	CHECK(list->count == 3, "three records");
	CHECK_STR(list->entries[0].base,
		  "1276528487.M364837P9451.kurkku,S=1000,W=1030",
		  "base with sizes in the name");
	CHECK_STR(list->entries[1].base, "1276528488.M1P2.h",
		  "the :2,flags cut off");
	CHECK_STR(list->entries[1].guid, "FFEE", "G extension");
	CHECK_STR(list->entries[2].base, "odd name with spaces",
		  "the name is the rest of the line");
	CHECK_STR(list->entries[2].pop3_uidl, "0123-kept", "P extension");
	CHECK(list->entries[0].guid == NULL &&
	      list->entries[0].pop3_uidl == NULL, "no G, no P");
	CHECK_STR(uidl(UIDLIST_DEFAULT_FORMAT, list, 0), "000000016553f100",
		  "Dovecot's default %08Xu%08Xv (lower-case hex)");
	CHECK_STR(uidl("%08XUu%08XUv", list, 1), "000000026553F100",
		  "U: upper case");
	CHECK_STR(uidl(UIDLIST_DEFAULT_FORMAT, list, 2), "0123-kept",
		  "a P extension wins over the template");
	CHECK_STR(uidl("%u-%v", list, 1), "2-1700000000", "decimal");
	CHECK_STR(uidl("%Xu.%05u", list, 0), "1.00001", "hex, padding");
	CHECK_STR(uidl("%g", list, 0),
		  "1276528487.M364837P9451.kurkku,S=1000,W=1030",
		  "%g without G: the base name");
	CHECK_STR(uidl("%Lg/%f%%", list, 1), "ffee/1276528488.M1P2.h%",
		  "%g, L, %f, %%");
	uidlist_free(&list);
	CHECK(list == NULL, "uidlist_free sets NULL");
	list = parse("3 V7\n", NULL, NULL);
	CHECK(list != NULL && list->count == 0, "header only: empty list");
	uidlist_free(&list);
}

static void test_refused(void)
{
	static const struct {
		const char *text;
		size_t line;
		const char *what;
	} cases[] = {
		{ "", 0, "empty file" },
		{ "1 1700000000 5\n1 S :a\n", 1, "version 1" },
		{ "3 N5\n", 1, "no V" },
		{ "3 V0\n", 1, "UIDVALIDITY 0" },
		{ "3 Vx\n", 1, "V not a number" },
		{ "3 V4294967296\n", 1, "V over 32 bits" },
		{ "3 V1\n1 :a", 2, "torn last line" },
		{ "3 V1\n1 W10 a\n", 2, "no ':'" },
		{ "3 V1\n1\n", 2, "no name" },
		{ "3 V1\n0 :a\n", 2, "UID 0" },
		{ "3 V1\n-1 :a\n", 2, "negative UID" },
		{ "3 V1\n2 :a\n2 :b\n", 3, "a repeated UID" },
		{ "3 V1\n3 :a\n2 :b\n", 3, "descending UIDs" },
		{ "3 V1\n1 :\n", 2, "empty name" },
		{ "3 V1\n1 :../x\n", 2, "a '/' in the name" },
		{ "3 V1\n1 w5 :a\n", 2, "lower-case extension" },
		{ "3 V1\n1  :a\n", 2, "empty extension" },
	};
	size_t i, line;
	const char *error;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uidlist *list = parse(cases[i].text, &error, &line);

		CHECK(list == NULL && error != NULL && line == cases[i].line,
		      cases[i].what);
		uidlist_free(&list);
	}
	{
		struct uidlist *list = NULL;

		CHECK(uidlist_parse("3 V1\n\0", 6, &list, &error, &line) < 0,
		      "a NUL byte");
	}
}

static void test_formats(void)
{
	static const char *const good[] = {
		"%08Xu%08Xv", "%u", "%v%u", "%Xu", "%f", "%g", "x%%y",
		"%010u", "%Ug", "%LLf",
	};
	static const char *const bad[] = {
		"", "%m", "%08Xm", "%8u", "%011u", "%x", "%{uid}", "%", "%08",
		"%08X", "%Xf", "%02f", "%UXg",
	};
	const char *error;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(uidlist_format_check(good[i], &error) == 0, good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(uidlist_format_check(bad[i], &error) < 0, bad[i]);
}

static void test_too_long(void)
{
	struct uidlist *list = parse("3 V1\n1 :aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				     "aaaaaaaaaaaaa\n", NULL, NULL);

	CHECK(list != NULL, "a long name parses");
	if (list != NULL)
		CHECK_STR(uidl("%f", list, 0), "ERROR",
			  "a UIDL over 70 octets does not fit");
	uidlist_free(&list);
}

int main(void)
{
	test_parse();
	test_refused();
	test_formats();
	test_too_long();
	return unit_done();
}
