/* netmatch.h: a list of networks ("10.0.0.0/8,127.0.0.1,::1/128") and
 * whether an address is in it. IPv4-mapped IPv6 addresses match the
 * IPv4 networks. */
#ifndef SATCHEL_NETMATCH_H
#define SATCHEL_NETMATCH_H

#include <stdbool.h>
#include <sys/socket.h>

#define NETMATCH_MAX 32

struct netmatch {
	unsigned count;
	struct {
		int family;             /* AF_INET or AF_INET6 */
		unsigned char addr[16];
		unsigned prefix;        /* bits */
	} nets[NETMATCH_MAX];
};

/* Parses a comma-separated list (blanks around items allowed; "" is an
 * empty list). 0, or -1 with *error_r. */
int netmatch_parse(const char *text, struct netmatch *m,
		   const char **error_r);
bool netmatch_has(const struct netmatch *m, const struct sockaddr *sa);

#endif
