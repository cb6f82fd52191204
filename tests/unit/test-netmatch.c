/* test-netmatch.c: network lists (netmatch.c): IPv4 and IPv6 prefixes,
 * single addresses, IPv4-mapped IPv6, bad items. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/netmatch.h"
#include "unit.h"

static bool has(const struct netmatch *m, const char *addr)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, addr, &in.sin_addr) == 1)
		return netmatch_has(m, (struct sockaddr *)&in);
	if (inet_pton(AF_INET6, addr, &in6.sin6_addr) == 1)
		return netmatch_has(m, (struct sockaddr *)&in6);
	return false;
}

int main(void)
{
	struct netmatch m;
	const char *error;

	CHECK(netmatch_parse("10.0.0.0/8, 127.0.0.2,2001:db8::/33,"
			     "192.0.2.128/25", &m, &error) == 0 &&
		      m.count == 4,
	      "a list of four");
	CHECK(has(&m, "10.255.1.2") && !has(&m, "11.0.0.1"), "/8");
	CHECK(has(&m, "127.0.0.2") && !has(&m, "127.0.0.1"), "one address");
	CHECK(has(&m, "2001:db8:7fff::1") && !has(&m, "2001:db8:8000::1"),
	      "/33");
	CHECK(has(&m, "192.0.2.200") && !has(&m, "192.0.2.100"), "/25");
	CHECK(has(&m, "::ffff:10.1.2.3"), "IPv4-mapped matches IPv4");
	CHECK(netmatch_parse("", &m, &error) == 0 && m.count == 0 &&
		      !has(&m, "127.0.0.1"),
	      "empty: nothing matches");
	CHECK(netmatch_parse("10.0.0.0/33", &m, &error) < 0, "/33 on IPv4");
	CHECK(netmatch_parse("example.org", &m, &error) < 0, "a host name");
	CHECK(netmatch_parse("10.0.0.0/", &m, &error) < 0, "no bits");
	CHECK(netmatch_parse("0.0.0.0/0", &m, &error) == 0 &&
		      has(&m, "203.0.113.9"),
	      "/0 matches every IPv4 address");
	return unit_done();
}
