/* test-mailpath.c: mail location parsing, pattern expansion and the user
 * names that are refused because they could escape the pattern. */
#include <string.h>

#include "store/mailpath.h"
#include "unit.h"

static const char *expand(const char *pattern, const char *user,
			  const char *home)
{
	static char out[256];
	const char *error = NULL;

	if (mailpath_expand(pattern, user, home, out, sizeof(out),
			    &error) < 0)
		return error != NULL ? "ERROR" : "ERROR-without-message";
	return out;
}

static void test_valid(void)
{
	char name[300];

	CHECK(mailpath_user_valid("alice"), "plain name");
	CHECK(mailpath_user_valid("alice@example.org"), "address");
	CHECK(mailpath_user_valid("a.b+c@d-e.f"), "dots inside");
	CHECK(mailpath_user_valid("alice@"), "empty domain");
	CHECK(!mailpath_user_valid(""), "empty");
	CHECK(!mailpath_user_valid("."), ".");
	CHECK(!mailpath_user_valid(".."), "..");
	CHECK(!mailpath_user_valid(".alice"), "leading dot");
	CHECK(!mailpath_user_valid("a/b"), "slash");
	CHECK(!mailpath_user_valid("../etc"), "dot-dot slash");
	CHECK(!mailpath_user_valid("a\nb"), "LF");
	CHECK(!mailpath_user_valid("a\rb"), "CR");
	CHECK(!mailpath_user_valid("a\tb"), "TAB");
	CHECK(!mailpath_user_valid("a\x7f"), "DEL");
	CHECK(!mailpath_user_valid("@example.org"), "empty local part");
	CHECK(!mailpath_user_valid("a@.."), "domain ..");
	CHECK(!mailpath_user_valid("a@.example.org"), "domain leading dot");
	memset(name, 'a', 255);
	name[255] = '\0';
	CHECK(mailpath_user_valid(name), "255 octets");
	name[255] = 'a';
	name[256] = '\0';
	CHECK(!mailpath_user_valid(name), "256 octets");
}

static void test_parse(void)
{
	enum maildrop_kind kind;
	const char *pattern, *error;

	CHECK(mailpath_parse("maildir:~/Maildir", &kind, &pattern,
			     &error) == 0 && kind == MAILDROP_MAILDIR &&
	      strcmp(pattern, "~/Maildir") == 0, "maildir:");
	CHECK(mailpath_parse("mbox:/var/mail/%u", &kind, &pattern,
			     &error) == 0 && kind == MAILDROP_MBOX &&
	      strcmp(pattern, "/var/mail/%u") == 0, "mbox:");
	CHECK(mailpath_parse("mdbox:~/x", &kind, &pattern, &error) == -1,
	      "unknown kind");
	CHECK(mailpath_parse("maildir:", &kind, &pattern, &error) == -1,
	      "empty pattern");
	CHECK(mailpath_parse("/var/mail/x", &kind, &pattern, &error) == -1,
	      "no kind");
}

static void test_expand(void)
{
	CHECK_STR(expand("/var/mail/%u", "alice", NULL), "/var/mail/alice",
		  "%u");
	CHECK_STR(expand("/m/%d/%n", "bob@example.org", NULL),
		  "/m/example.org/bob", "%d/%n");
	CHECK_STR(expand("/m/%d/%n", "bob", NULL), "/m//bob",
		  "%d empty without @");
	CHECK_STR(expand("/m/%u", "bob@example.org", NULL),
		  "/m/bob@example.org", "%u is the full name");
	CHECK_STR(expand("/m/%n%%x", "a@b", NULL), "/m/a%x", "%%");
	CHECK_STR(expand("~/Maildir", "a", "/home/a"), "/home/a/Maildir",
		  "~/");
	CHECK_STR(expand("~", "a", "/home/a"), "/home/a", "~ alone");
	CHECK_STR(expand("~/%n", "a@b", "/home/x"), "/home/x/a", "~ and %n");
	CHECK_STR(expand("/m/~x", "a", NULL), "/m/~x", "inner ~ literal");
	CHECK_STR(expand("~/M", "a", NULL), "ERROR", "~ without home");
	CHECK_STR(expand("~/M", "a", ""), "ERROR", "~ with empty home");
	CHECK_STR(expand("~alice/M", "a", "/h"), "ERROR", "~user");
	CHECK_STR(expand("/m/%x", "a", NULL), "ERROR", "unknown variable");
	CHECK_STR(expand("/m/%", "a", NULL), "ERROR", "lone %");
	CHECK_STR(expand("/m/%u:LAYOUT=fs", "a", NULL), "ERROR",
		  "location options refused");
	CHECK_STR(expand("Maildir/%u", "a", NULL), "ERROR", "relative");
	CHECK_STR(expand("/m/%u", "../x", NULL), "ERROR", "bad user");
	CHECK_STR(expand("/m/%d/%n", "a@..", NULL), "ERROR", "bad domain");
}

static void test_bounds(void)
{
	char out[16], user[256];
	const char *error;

	CHECK(mailpath_expand("/m/%u", "abcdefghijk", NULL, out, sizeof(out),
			      &error) == 0 &&
	      strcmp(out, "/m/abcdefghijk") == 0, "fits exactly (14+NUL)");
	CHECK(mailpath_expand("/m/%u", "abcdefghijkl", NULL, out,
			      sizeof(out), &error) == 0, "15 octets fit");
	CHECK(mailpath_expand("/m/%u", "abcdefghijklm", NULL, out,
			      sizeof(out), &error) == -1 && out[0] == '\0',
	      "overflow by one is an error, output emptied");
	CHECK(mailpath_expand("~/x", "a", "/0123456789abcdef", out,
			      sizeof(out), &error) == -1, "long home");
	CHECK(mailpath_expand("/m/%u", "a", NULL, out, 0, &error) == -1,
	      "zero-size output");
	memset(user, 'u', 255);
	user[255] = '\0';
	CHECK(mailpath_expand("/%u/%u/%u/%u/%u", user, NULL, out,
			      sizeof(out), &error) == -1,
	      "huge expansion bounded");
}

int main(void)
{
	test_valid();
	test_parse();
	test_expand();
	test_bounds();
	return unit_done();
}
