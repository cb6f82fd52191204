/* netmatch.c: networks and membership (netmatch.h). */
#include "net/netmatch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/strnum.h"

static int netmatch_item(const char *item, struct netmatch *m,
			 const char **error_r)
{
	char host[64];
	const char *slash = strchr(item, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - item) : strlen(item);
	unsigned max;
	uint64_t prefix;

	if (m->count == NETMATCH_MAX) {
		*error_r = "too many networks";
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = "expected ADDRESS or ADDRESS/BITS";
		return -1;
	}
	memcpy(host, item, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, m->nets[m->count].addr) == 1) {
		m->nets[m->count].family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, m->nets[m->count].addr) == 1) {
		m->nets[m->count].family = AF_INET6;
		max = 128;
	} else {
		*error_r = "not an IPv4 or IPv6 address";
		return -1;
	}
	prefix = max;
	if (slash != NULL && strnum_parse_u64(slash + 1, max, &prefix) < 0) {
		*error_r = "bad prefix length";
		return -1;
	}
	m->nets[m->count++].prefix = (unsigned)prefix;
	return 0;
}

int netmatch_parse(const char *text, struct netmatch *m,
		   const char **error_r)
{
	const char *p = text;

	memset(m, 0, sizeof(*m));
	while (*p != '\0') {
		char item[96];
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item)) {
			*error_r = "network too long";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (netmatch_item(item, m, error_r) < 0)
			return -1;
		p += len;
	}
	return 0;
}

static bool netmatch_bits(const unsigned char *a, const unsigned char *net,
			  unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	return rest == 0 ||
	       ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

bool netmatch_has(const struct netmatch *m, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
						  0, 0, 0xff, 0xff };
	const unsigned char *a4 = NULL, *a6 = NULL;
	unsigned i;

	if (sa->sa_family == AF_INET) {
		a4 = (const unsigned char *)&((const struct sockaddr_in *)sa)
			     ->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a6 = (const unsigned char *)&((const struct sockaddr_in6 *)sa)
			     ->sin6_addr;
		if (memcmp(a6, mapped, sizeof(mapped)) == 0)
			a4 = a6 + 12;
	}
	for (i = 0; i < m->count; i++) {
		if (m->nets[i].family == AF_INET && a4 != NULL &&
		    netmatch_bits(a4, m->nets[i].addr, m->nets[i].prefix))
			return true;
		if (m->nets[i].family == AF_INET6 && a6 != NULL &&
		    netmatch_bits(a6, m->nets[i].addr, m->nets[i].prefix))
			return true;
	}
	return false;
}
