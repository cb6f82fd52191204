/* test-ldap_query.c: the LDAP driver's filters (RFC 4515 escaping of
 * the login name) and attribute map (ldap_query.h). */
#include "unit.h"

#include "auth/ldap_query.h"

#define DEFAULT_FILTER "(&(objectClass=posixAccount)(uid=%u))"

static const char *filter(const char *tmpl, const char *user)
{
	static char out[512];
	const char *error;

	if (ldap_query_filter(tmpl, user, out, sizeof(out), &error) < 0)
		return error;
	return out;
}

static void test_escape(void)
{
	char out[64];

	/* RFC 4515 3.: the five octets that must be escaped, and the
	 * examples of its section 4 */
	CHECK(ldap_query_escape("*()\\\0", 5, out, sizeof(out)) == 0 &&
	      strcmp(out, "\\2a\\28\\29\\5c\\00") == 0, "the five specials");
	CHECK(ldap_query_escape("Parens R Us (for all your parenthetical "
				"needs)", 45, out, 32) < 0,
	      "no room: -1");
	CHECK_STR(ldap_query_escape("a(b)", 4, out, sizeof(out)) == 0 ? out :
		  NULL, "a\\28b\\29", "parentheses");
	CHECK_STR(ldap_query_escape("joe@a.example", 13, out,
				    sizeof(out)) == 0 ? out : NULL,
		  "joe@a.example", "a plain name unchanged");
	/* UTF-8 and control octets: plain ASCII reaches the directory */
	CHECK_STR(ldap_query_escape("L\xc3\xbc" "cy\t", 6, out,
				    sizeof(out)) == 0 ? out : NULL,
		  "L\\c3\\bccy\\09", "UTF-8 and a tab as \\XX");
	CHECK_STR(ldap_query_escape("a b", 3, out, sizeof(out)) == 0 ? out :
		  NULL, "a\\20b", "a blank as \\20");
	/* the exact room: "\\2a" and the NUL */
	CHECK(ldap_query_escape("*", 1, out, 4) == 0, "room for \\2a");
	CHECK(ldap_query_escape("*", 1, out, 3) < 0, "one short");
	CHECK(ldap_query_escape("", 0, out, 1) == 0 && out[0] == '\0',
	      "empty value");
}

static void test_filter(void)
{
	CHECK_STR(filter(DEFAULT_FILTER, "alice"),
		  "(&(objectClass=posixAccount)(uid=alice))", "the default");
	/* the injection of the brief: one name, never a wildcard or a
	 * second condition */
	CHECK_STR(filter(DEFAULT_FILTER, "*)(uid=*"),
		  "(&(objectClass=posixAccount)(uid=\\2a\\29\\28uid=\\2a))",
		  "filter injection escaped");
	CHECK_STR(filter(DEFAULT_FILTER, "x)(|(uid=*"),
		  "(&(objectClass=posixAccount)(uid=x\\29\\28|\\28uid=\\2a))",
		  "an OR smuggled in escaped");
	CHECK_STR(filter("(&(uid=%n)(dc=%d))", "joe@a.example"),
		  "(&(uid=joe)(dc=a.example))", "%n and %d");
	CHECK_STR(filter("(&(uid=%n)(dc=%d))", "joe"),
		  "(&(uid=joe)(dc=))", "%d without a domain");
	CHECK_STR(filter("(mail=%u)", "a*@b(c)"), "(mail=a\\2a@b\\28c\\29)",
		  "%u escaped whole");
	CHECK_STR(filter("(x=100%%)", "u"), "(x=100%)", "%% is %");
	CHECK_STR(filter("(uid=%x)", "u"), "ldap_user_filter may use only "
		  "%u, %n, %d and %%", "another variable refused");
	CHECK_STR(filter("(uid=%", "u"), "ldap_user_filter may use only "
		  "%u, %n, %d and %%", "a trailing % refused");
	CHECK(ldap_query_filter(DEFAULT_FILTER, NULL, NULL, 0, NULL) == 0,
	      "checking a template without a name");
	{
		char small[16];
		const char *error = NULL;

		CHECK(ldap_query_filter(DEFAULT_FILTER, "alice", small,
					sizeof(small), &error) < 0 &&
		      error != NULL, "a filter longer than the buffer");
	}
}

static void test_map(void)
{
	struct ldap_map m;
	const char *error = NULL;

	CHECK(ldap_query_map("userPassword=password, uidNumber=uid,"
			     "gidNumber=gid ,homeDirectory=home,"
			     "mailQuota=quota_bytes,2.5.4.3=mail", &m,
			     &error) == 0 && m.n == 6, "a map of six");
	CHECK_STR(ldap_query_field(&m, "userpassword"), "password",
		  "names compare without case");
	CHECK_STR(ldap_query_field(&m, "uidNumber"), "uid", "uidNumber");
	CHECK_STR(ldap_query_field(&m, "mailQuota"), "quota_bytes", "quota");
	CHECK_STR(ldap_query_field(&m, "2.5.4.3"), "mail", "an OID");
	CHECK(ldap_query_field(&m, "cn") == NULL, "an unmapped attribute");
	CHECK(ldap_query_maps(&m, "password") && !ldap_query_maps(&m, "user"),
	      "which fields are mapped");
	CHECK(ldap_query_map("userPassword=pass", &m, &error) < 0,
	      "an unknown field");
	CHECK(ldap_query_map("userPassword", &m, &error) < 0, "no '='");
	CHECK(ldap_query_map("user Password=password", &m, &error) < 0,
	      "a blank in a name");
	CHECK(ldap_query_map("(uid)=user", &m, &error) < 0,
	      "filter text as a name");
	CHECK(ldap_query_map("1.x=user", &m, &error) < 0, "a bad OID");
	CHECK(ldap_query_map("a=uid,b=uid,c=uid,d=uid,e=uid,f=uid,g=uid,"
			     "h=uid,i=uid,j=uid,k=uid,l=uid,m=uid", &m,
			     &error) < 0, "too many attributes");
	CHECK(ldap_query_map("", &m, &error) == 0 && m.n == 0, "empty map");
}

int main(void)
{
	test_escape();
	test_filter();
	test_map();
	return unit_done();
}
