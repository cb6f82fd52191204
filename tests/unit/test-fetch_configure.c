/* test-fetch_configure.c: the addresses --configure takes and refuses,
 * and the block it writes for what the lookups found
 * (fetch_configure.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/fetch.h"
#include "fetch/fetch_configure.h"
#include "unit.h"

static void good(const char *address, const char *local, const char *domain)
{
	char l[FETCH_CONFIGURE_LOCAL_MAX + 1], d[FETCH_CONFIGURE_DOMAIN_MAX + 1];
	char name[400];
	const char *why = "";
	int ret = fetch_configure_address(address, l, sizeof(l), d, sizeof(d),
					  &why);

	snprintf(name, sizeof(name), "address: %s (%s)", address, why);
	CHECK(ret == 0 && strcmp(l, local) == 0 && strcmp(d, domain) == 0,
	      name);
}

static void bad(const char *address)
{
	char l[FETCH_CONFIGURE_LOCAL_MAX + 1], d[FETCH_CONFIGURE_DOMAIN_MAX + 1];
	char name[400];
	const char *why = NULL;
	int ret = fetch_configure_address(address, l, sizeof(l), d, sizeof(d),
					  &why);

	snprintf(name, sizeof(name), "address refused: %s (%s)", address,
		 why != NULL ? why : "");
	/* one line per check */
	for (char *p = name; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20)
			*p = '?';
	}
	CHECK(ret < 0 && why != NULL, name);
}

static void test_addresses(void)
{
	char long_local[80], long_domain[300];

	good("alice@example.com", "alice", "example.com");
	good("Alice.B+tag@Example.COM.", "Alice.B+tag", "example.com");
	good("a!#$%&'*+-/=?^_`{|}~z@x", "a!#$%&'*+-/=?^_`{|}~z", "x");
	good("u@xn--bcher-kva.example", "u", "xn--bcher-kva.example");
	bad("");
	bad("example.com");
	bad("@example.com");
	bad("alice@");
	bad("alice@.");
	bad("a@b@example.com");
	bad("\"a b\"@example.com");
	bad("a..b@example.com");
	bad(".a@example.com");
	bad("a.@example.com");
	bad("a b@example.com");
	bad("a\n@example.com");
	bad("[a]@example.com");
	bad("\xc3\xa4@example.com");
	bad("a@b\xc3\xbc" "cher.example");
	bad("a@exa_mple.com");
	bad("a@-x.com");
	bad("a@example..com");
	bad("a@example.com..");
	memset(long_local, 'x', 65);
	strcpy(long_local + 65, "@example.com");
	bad(long_local);
	long_local[64] = '@';
	strcpy(long_local + 65, "example.com");
	CHECK(strlen(long_local) == 64 + 1 + 11, "a local part of 64");
	good(long_local, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxxxxxxxxxxxxxxx", "example.com");
	/* "_pop3s._tcp." (12) + 241 is the longest name */
	memcpy(long_domain, "u@", 2);
	for (size_t i = 0; i < 241; i++)
		long_domain[2 + i] = i % 2 == 0 ? 'd' : '.';
	long_domain[2 + 241] = '\0';
	good(long_domain, "u", long_domain + 2);
	memcpy(long_domain + 2 + 241, ".d", 3);
	bad(long_domain);
}

/* What fetch_configure_print writes for f, in a malloc'd string. */
static char *print(const struct fetch_configure_found *f, int *ret_r,
		   const char **why_r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	*why_r = "";
	*ret_r = fetch_configure_print(out, f, why_r);
	fclose(out);
	return text;
}

static void add(struct fetch_srv_list *l, unsigned prio, unsigned weight,
		unsigned port, const char *target)
{
	struct fetch_srv *s = &l->srv[l->count++];

	s->priority = (uint16_t)prio;
	s->weight = (uint16_t)weight;
	s->port = (uint16_t)port;
	snprintf(s->target, sizeof(s->target), "%s", target);
}

static void test_print(void)
{
	static struct fetch_configure_found f;
	const char *why;
	char *text, buf[64];
	int ret;
	FILE *small;

	memset(&f, 0, sizeof(f));
	f.local = "al ice";     /* not a dot-atom: only to see the %20 */
	f.domain = "example.com";
	f.dest = "maildir:/home/al/Maildir";
	add(&f.lists[FETCH_CONFIGURE_POP3S], 0, 0, 0, ".");
	add(&f.lists[FETCH_CONFIGURE_POP3S], 1, 0, 995, "bad_host.example.com");
	add(&f.lists[FETCH_CONFIGURE_POP3S], 2, 0, 0, "noport.example.com");
	add(&f.lists[FETCH_CONFIGURE_POP3S], 3, 0, 995, "pop.example.com");
	add(&f.lists[FETCH_CONFIGURE_POP3], 0, 0, 110, "plain.example.com");
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_OK, "print: ok");
	CHECK(strstr(text, "\n[al ice@example.com]\nurl = "
			   "pops://al%20ice@pop.example.com:995\n"
			   "to = maildir:/home/al/Maildir\n") != NULL,
	      "print: the first usable pop3s record, the URL encoded");
	CHECK(strstr(text, "# _pop3s._tcp.example.com  SRV 3 0 995 "
			   "pop.example.com  <- the url below\n") != NULL &&
		      strstr(text, "SRV 0 0 0 .  not offered (RFC 2782)\n") &&
		      strstr(text, "bad_host.example.com  not a host name") &&
		      strstr(text, "noport.example.com  port 0: ignored") &&
		      strstr(text, "# _pop3._tcp.example.com  SRV 0 0 110 "
				   "plain.example.com\n"),
	      "print: every record, with why it is not the one");
	CHECK(strstr(text, "STLS") == NULL, "print: pops:// says no STLS");
	free(text);

	f.lists[FETCH_CONFIGURE_POP3S].count = 1;  /* "." only */
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_OK &&
		      strstr(text, "url = pop://al%20ice@plain.example.com:110\n") &&
		      strstr(text, "STLS"),
	      "print: pop3s not offered: pop:// and STLS");
	free(text);

	f.lists[FETCH_CONFIGURE_POP3].count = 0;
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_UNAVAILABLE && text[0] == '\0' &&
		      strstr(why, "offers no POP3") != NULL,
	      "print: only \".\": not offered, nothing written");
	free(text);

	f.lists[FETCH_CONFIGURE_POP3S].count = 0;
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_UNAVAILABLE && text[0] == '\0' &&
		      strstr(why, "no SRV record") != NULL,
	      "print: no record at all");
	free(text);

	add(&f.lists[FETCH_CONFIGURE_POP3], 0, 0, 110, "a\\010b.example.com");
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_UNAVAILABLE && strstr(why, "usable") != NULL,
	      "print: no usable record");
	free(text);

	add(&f.lists[FETCH_CONFIGURE_POP3], 0, 0, 110, "pop.elsewhere.net");
	text = print(&f, &ret, &why);
	CHECK(ret == FETCH_EXIT_OK &&
		      strstr(text, "# pop.elsewhere.net is not in example.com"),
	      "print: a server outside the domain is pointed out");
	free(text);

	small = fmemopen(buf, sizeof(buf), "w");
	ret = fetch_configure_print(small, &f, &why);
	fclose(small);
	CHECK(ret == FETCH_EXIT_IOERR, "print: a failed write is an error");
}

int main(void)
{
	test_addresses();
	test_print();
	return unit_done();
}
