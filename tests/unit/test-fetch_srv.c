/* test-fetch_srv.c: SRV answers (fetch_srv.c) built octet by octet: the
 * records kept and refused, CNAME chains, compression, the caps, the
 * order, and what a host name is. */
#include <string.h>

#include "fetch/fetch_srv.h"
#include "unit.h"

#define QNAME "_pop3s._tcp.example.test"

struct msg {
	unsigned char b[4096];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put16(struct msg *m, unsigned v)
{
	unsigned char two[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, two, 2);
}

/* Labels of name ("" is the root), not compressed. */
static void put_name(struct msg *m, const char *name)
{
	while (*name != '\0') {
		size_t n = strcspn(name, ".");
		unsigned char len = (unsigned char)n;

		put(m, &len, 1);
		put(m, name, n);
		name += n + (name[n] == '.');
	}
	put(m, "", 1);
}

/* Header (id 1, the flags, one question, an answers) and the question. */
static void start(struct msg *m, unsigned flags, unsigned an)
{
	m->len = 0;
	put16(m, 1);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, QNAME);
	put16(m, 33);
	put16(m, 1);
}

/* The owner: NULL is a pointer to the question's name. */
static void put_owner(struct msg *m, const char *owner)
{
	if (owner == NULL)
		put16(m, 0xc00c);
	else
		put_name(m, owner);
}

static void put_srv(struct msg *m, const char *owner, unsigned prio,
		    unsigned weight, unsigned port, const char *target)
{
	size_t at;

	put_owner(m, owner);
	put16(m, 33);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	at = m->len;
	put16(m, 0);
	put16(m, prio);
	put16(m, weight);
	put16(m, port);
	put_name(m, target);
	m->b[at] = (unsigned char)((m->len - at - 2) >> 8);
	m->b[at + 1] = (unsigned char)(m->len - at - 2);
}

static void put_cname(struct msg *m, const char *owner, const char *target)
{
	put_owner(m, owner);
	put16(m, 5);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)strlen(target) + 2);
	put_name(m, target);
}

#define ANSWER 0x8180 /* QR, RD, RA, NOERROR */

static int parse(const struct msg *m, struct fetch_srv_list *list,
		 const char **why)
{
	*why = "";
	return fetch_srv_parse(m->b, m->len, QNAME, list, why);
}

static void test_records(void)
{
	static struct fetch_srv_list l;
	struct msg m;
	const char *why;

	start(&m, ANSWER, 3);
	put_srv(&m, NULL, 10, 60, 995, "pop.example.test");
	put_srv(&m, "_POP3S._TCP.Example.Test", 20, 0, 1995, "b.example.test");
	put_srv(&m, NULL, 0, 0, 0, "");
	CHECK(parse(&m, &l, &why) == 0 && l.count == 3 && l.dropped == 0,
	      "srv: three records");
	CHECK(l.srv[0].priority == 10 && l.srv[0].weight == 60 &&
		      l.srv[0].port == 995,
	      "srv: priority, weight, port");
	CHECK_STR(l.srv[0].target, "pop.example.test", "srv: target");
	CHECK_STR(l.srv[1].target, "b.example.test",
		  "srv: the owner compares without case");
	CHECK_STR(l.srv[2].target, ".", "srv: the root target is \".\"");

	/* "pop" then a pointer to "example.test" in the question */
	start(&m, ANSWER, 1);
	put16(&m, 0xc00c);
	put16(&m, 33);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 300);
	put16(&m, 6 + 4 + 2);
	put16(&m, 1);
	put16(&m, 2);
	put16(&m, 3);
	put(&m, "\003pop", 4);
	put16(&m, 0xc000 | (12 + 7 + 5));
	CHECK(parse(&m, &l, &why) == 0 && l.count == 1 &&
		      strcmp(l.srv[0].target, "pop.example.test") == 0,
	      "srv: a compressed target is taken (RFC 3597)");

	start(&m, ANSWER, 2);
	put_srv(&m, "other.test", 0, 0, 995, "foreign.example.test");
	put_srv(&m, NULL, 5, 0, 995, "pop.example.test");
	CHECK(parse(&m, &l, &why) == 0 && l.count == 1 &&
		      strcmp(l.srv[0].target, "pop.example.test") == 0,
	      "srv: another owner's record is ignored");

	/* a CNAME moves the owner: the records at the qname go too */
	start(&m, ANSWER, 4);
	put_srv(&m, NULL, 0, 0, 995, "stale.example.test");
	put_cname(&m, NULL, "a.hosting.test");
	put_srv(&m, "b.hosting.test", 0, 0, 995, "pop.hosting.test");
	put_cname(&m, "a.hosting.test", "b.hosting.test");
	CHECK(parse(&m, &l, &why) == 0 && l.count == 1 &&
		      strcmp(l.srv[0].target, "pop.hosting.test") == 0,
	      "srv: a CNAME chain in any order is followed");

	start(&m, ANSWER, 2);
	put_cname(&m, NULL, "loop.test");
	put_cname(&m, "loop.test", QNAME);
	CHECK(parse(&m, &l, &why) == 0 && l.count == 0,
	      "srv: a CNAME loop ends");
}

static void test_refused(void)
{
	static struct fetch_srv_list l;
	struct msg m;
	const char *why;
	size_t full;

	start(&m, ANSWER, 1);
	put_srv(&m, NULL, 0, 0, 995, "pop.example.test");
	full = m.len;
	m.len = full - 3;
	CHECK(parse(&m, &l, &why) < 0, "srv: a truncated message");

	start(&m, ANSWER, 1);
	put_srv(&m, NULL, 0, 0, 995, "pop.example.test");
	/* RDLENGTH's low octet, before the 6 fixed and 18 name octets */
	m.b[m.len - 18 - 6 - 1] += 4;
	put(&m, "junk", 4);
	CHECK(parse(&m, &l, &why) < 0 && strstr(why, "SRV") != NULL,
	      "srv: junk after the target");

	start(&m, ANSWER, 1);
	put16(&m, 0xc00c);
	put16(&m, 33);
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 300);
	put16(&m, 3);
	put(&m, "\000\001\000", 3);
	CHECK(parse(&m, &l, &why) < 0, "srv: RDATA too short");

	start(&m, 0x8182, 0);
	CHECK(parse(&m, &l, &why) < 0, "srv: SERVFAIL is no answer");
	start(&m, ANSWER | 0x0200, 1);
	put_srv(&m, NULL, 0, 0, 995, "pop.example.test");
	CHECK(parse(&m, &l, &why) < 0 && strstr(why, "truncated") != NULL,
	      "srv: TC: records may be missing");
	start(&m, 0x0100, 1);
	put_srv(&m, NULL, 0, 0, 995, "pop.example.test");
	CHECK(parse(&m, &l, &why) < 0, "srv: a query is no answer");
}

static void test_cap_and_order(void)
{
	static struct fetch_srv_list l;
	struct msg m;
	const char *why;
	unsigned i;

	start(&m, ANSWER, FETCH_SRV_MAX + 5);
	for (i = 0; i < FETCH_SRV_MAX + 5; i++)
		put_srv(&m, NULL, 1, i, 995, "p.example.test");
	CHECK(parse(&m, &l, &why) == 0 && l.count == FETCH_SRV_MAX &&
		      l.dropped == 5,
	      "srv: records beyond the cap are counted, not kept");

	start(&m, ANSWER, 5);
	put_srv(&m, NULL, 20, 100, 995, "e.test");
	put_srv(&m, NULL, 10, 0, 995, "d.test");
	put_srv(&m, NULL, 10, 50, 996, "C.test");
	put_srv(&m, NULL, 10, 50, 995, "c.test");
	put_srv(&m, NULL, 10, 50, 995, "a.test");
	CHECK(parse(&m, &l, &why) == 0 && l.count == 5, "order: parsed");
	fetch_srv_sort(&l);
	CHECK(strcmp(l.srv[0].target, "a.test") == 0 &&
		      strcmp(l.srv[1].target, "c.test") == 0 &&
		      l.srv[2].port == 996 &&
		      strcmp(l.srv[3].target, "d.test") == 0 &&
		      strcmp(l.srv[4].target, "e.test") == 0,
	      "order: priority up, weight down, then name and port");
}

static void test_host_names(void)
{
	static const char *good[] = {
		"pop.example.test", "a", "xn--bcher-kva.example", "1.2.3.4",
		"a-b.c0",
	};
	static const char *bad[] = {
		"", ".", "a.", ".a", "a..b", "-a.test", "a-.test", "a_b.test",
		"a b.test", "a\\010b.test", "p\xc3\xa4.test",
	};
	char name[300];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(name, sizeof(name), "host: %s", good[i]);
		CHECK(fetch_srv_host_is_valid(good[i]), name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "host refused: %s", bad[i]);
		CHECK(!fetch_srv_host_is_valid(bad[i]), name);
	}
	memset(name, 'a', 63);
	name[63] = '\0';
	CHECK(fetch_srv_host_is_valid(name), "host: a label of 63");
	memset(name, 'a', 64);
	name[64] = '\0';
	CHECK(!fetch_srv_host_is_valid(name), "host refused: a label of 64");
	for (i = 0; i < 254; i++)
		name[i] = i % 2 == 0 ? 'a' : '.';
	name[253] = '\0';
	CHECK(fetch_srv_host_is_valid(name), "host: 253 octets");
	name[253] = '.';
	name[254] = 'a';
	name[255] = '\0';
	CHECK(!fetch_srv_host_is_valid(name), "host refused: 255 octets");
}

int main(void)
{
	test_records();
	test_refused();
	test_cap_and_order();
	test_host_names();
	return unit_done();
}
