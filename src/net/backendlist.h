/* backendlist.h: the backends of proxy mode (proxy_backends = host:port,
 * ...) and which of them serves a user.
 *
 * Hosts are numeric (IPv4, [IPv6]): a worker's event loop never waits for
 * DNS. The choice is stable: the first 8 octets of SHA-256(user), read
 * big-endian, modulo the number of backends, so every proxy with the same
 * list sends a user to the same backend (which holds the user's maildrop
 * lock and index). Adding or removing a backend moves most users: the
 * list is meant to change with the store layout, not per node. */
#ifndef SATCHEL_BACKENDLIST_H
#define SATCHEL_BACKENDLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define BACKENDLIST_MAX 64

struct backend_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[72];   /* "host:port" as configured, for logs */
};

struct backendlist {
	size_t count;
	struct backend_addr addr[BACKENDLIST_MAX];
};

/* Parses a comma-separated host:port / [v6]:port list. 0, or -1 with
 * *error_r (static text). An empty list gives count 0. */
int backendlist_parse(const char *list, struct backendlist *bl,
		      const char **error_r);
/* One numeric host:port into *b. 0 or -1. */
int backendlist_parse_one(const char *item, struct backend_addr *b);
/* The backend for user (the canonical name the auth process returned);
 * NULL when the list is empty. */
const struct backend_addr *backendlist_pick(const struct backendlist *bl,
					    const char *user);
/* True when one of bl's addresses would reach a listener of the
 * comma-separated listen list: the same address and port, or the same
 * port on a wildcard listener when the backend is a loopback address
 * (the loop guard: a proxy must never be its own backend). */
bool backendlist_overlaps(const struct backendlist *bl, const char *listen);
/* The same for one address (a user's own proxy_host). */
bool backendlist_addr_overlaps(const struct backend_addr *b,
			       const char *listen);

#endif
