/* backendlist.c: proxy mode's backend list and the user hash
 * (backendlist.h). */
#include "net/backendlist.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "net/listener.h"

#define BACKENDLIST_TEXT_MAX 4096

int backendlist_parse_one(const char *item, struct backend_addr *b)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[64], port[8];

	if (listener_parse_addr(item, host, sizeof(host), port,
				sizeof(port)) < 0 ||
	    getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	if (ai->ai_addrlen > sizeof(b->ss)) {
		freeaddrinfo(ai);
		return -1;
	}
	memset(b, 0, sizeof(*b));
	memcpy(&b->ss, ai->ai_addr, ai->ai_addrlen);
	b->len = ai->ai_addrlen;
	snprintf(b->text, sizeof(b->text), "%s", item);
	freeaddrinfo(ai);
	return 0;
}

int backendlist_parse(const char *list, struct backendlist *bl,
		      const char **error_r)
{
	char copy[BACKENDLIST_TEXT_MAX], *save = NULL, *item;

	bl->count = 0;
	if (strlen(list) >= sizeof(copy)) {
		*error_r = "list too long";
		return -1;
	}
	strcpy(copy, list);
	for (item = strtok_r(copy, ", ", &save); item != NULL;
	     item = strtok_r(NULL, ", ", &save)) {
		if (bl->count == BACKENDLIST_MAX) {
			*error_r = "more than 64 backends";
			return -1;
		}
		if (backendlist_parse_one(item, &bl->addr[bl->count]) < 0) {
			*error_r = "expected numeric host:port or [v6]:port, "
				   "comma-separated";
			return -1;
		}
		bl->count++;
	}
	return 0;
}

const struct backend_addr *backendlist_pick(const struct backendlist *bl,
					    const char *user)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t h = 0;

	if (bl->count == 0)
		return NULL;
	SHA256((const unsigned char *)user, strlen(user), md);
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return &bl->addr[h % bl->count];
}

static in_port_t backend_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static bool backend_is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
		      &in6addr_any, sizeof(in6addr_any)) == 0;
}

static bool backend_same_host(const struct sockaddr_storage *a,
			      const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr,
		      sizeof(struct in6_addr)) == 0;
}

bool backendlist_addr_overlaps(const struct backend_addr *b,
			       const char *listen)
{
	struct backendlist own;
	const char *error;

	if (backendlist_parse(listen, &own, &error) < 0)
		return false; /* not ours to judge: the listen check says */
	for (size_t j = 0; j < own.count; j++) {
		const struct backend_addr *l = &own.addr[j];

		if (backend_port(&b->ss) != backend_port(&l->ss))
			continue;
		if (backend_same_host(&b->ss, &l->ss) ||
		    (backend_is_wildcard(&l->ss) &&
		     listener_addr_is_loopback((const struct sockaddr *)&b->ss)))
			return true;
	}
	return false;
}

bool backendlist_overlaps(const struct backendlist *bl, const char *listen)
{
	for (size_t i = 0; i < bl->count; i++) {
		if (backendlist_addr_overlaps(&bl->addr[i], listen))
			return true;
	}
	return false;
}
