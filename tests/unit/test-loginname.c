/* test-loginname.c: the login name's normalisation (loginname.c): the
 * documented forms, each option alone and together, and names that are
 * no names (two '@', a path, too long). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth/loginname.h"
#include "unit.h"

struct name_case {
	const char *in;
	const char *want;       /* NULL: refused */
};

static void run(const struct auth_settings *set, const char *what,
		const struct name_case *cases, size_t n, bool address)
{
	char out[256], label[512];
	size_t i;

	for (i = 0; i < n; i++) {
		int r = address ?
				loginname_normalize_address(set, cases[i].in,
							    out, sizeof(out)) :
				loginname_normalize(set, cases[i].in, out,
						    sizeof(out));

		snprintf(label, sizeof(label), "%s: %s", what, cases[i].in);
		if (cases[i].want == NULL)
			CHECK(r < 0, label);
		else if (r < 0)
			CHECK(false, label);
		else
			CHECK_STR(out, cases[i].want, label);
	}
}

int main(void)
{
	struct auth_settings set;
	char longname[300];
	static const struct name_case plain[] = {
		{ "joe", "joe" },
		{ "joe@a.example", "joe@a.example" },
		{ "JOE@A.EXAMPLE", "JOE@a.example" },
		{ "joe%a.example", "joe%a.example" },   /* option off */
		{ "joe+host", "joe+host" },             /* option off */
		{ "joe@a@b.example", NULL },
		{ "../etc", NULL },
		{ "a/b", NULL },
		{ "", NULL },
		{ "@a.example", NULL },
		/* RFC 4013: NFKC and the mappings, so every Unicode form of
		 * a name is the one stored */
		{ "jo\xcc\x88rg@a.example", "j\xc3\xb6rg@a.example" },
		{ "j\xc3\xb6rg@a.example", "j\xc3\xb6rg@a.example" },
		{ "an\xc2\xadna", "anna" },         /* soft hyphen: nothing */
		{ "\xef\xbc\xa1" "bc", "Abc" },       /* fullwidth A: NFKC */
		{ "bad\xe2\x80\x8ename", NULL },   /* U+200E: prohibited */
		{ "lat\xe9n", "lat\xe9n" },         /* not UTF-8: as it is */
	};
	static const struct name_case all[] = {
		{ "joe", "joe@a.example" },
		{ "joe@a.example", "joe@a.example" },
		{ "JOE@A.EXAMPLE", "joe@a.example" },
		{ "joe%a.example", "joe@a.example" },
		{ "Joe%B.Example", "joe@b.example" },
		{ "joe+dialup.example", "joe@dialup.example" },
		{ "j%x%a.example", "j%x@a.example" },  /* the last one */
		{ "joe%a.example@c.example", "joe%a.example@c.example" },
		{ "joe%", NULL },
	};
	static const struct name_case addresses[] = {
		{ "Joe+tag@A.Example", "joe+tag@a.example" },
		{ "Jo\xcc\x88rg@A.Example", "j\xc3\xb6rg@a.example" },
		{ "joe%a.example", "joe%a.example" },
		{ "joe", "joe" },            /* no default domain for addresses */
	};

	memset(&set, 0, sizeof(set));
	run(&set, "defaults", plain, sizeof(plain) / sizeof(plain[0]), false);
	set.login_lowercase = set.login_percent_domain = set.login_sdps = true;
	snprintf(set.default_domain, sizeof(set.default_domain), "a.example");
	run(&set, "every option", all, sizeof(all) / sizeof(all[0]), false);
	run(&set, "address", addresses,
	    sizeof(addresses) / sizeof(addresses[0]), true);
	memset(longname, 'x', 250);
	longname[250] = '\0';
	{
		char out[256];

		CHECK(loginname_normalize(&set, longname, out, sizeof(out)) < 0,
		      "a default domain that makes the name too long: refused");
	}
	return unit_done();
}
