/* listener.h: parses listen addresses and binds them (in the master, as
 * root, before any privilege drop). */
#ifndef SATCHEL_LISTENER_H
#define SATCHEL_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "net/net_limits.h"


struct listener {
	int fd;
	bool tls;          /* implicit TLS port (listen_tls) */
	char name[80];     /* "127.0.0.1:110" as configured */
};

/* Binds every address of the comma-separated list ("host:port",
 * "[v6]:port"), appending to set (capacity LISTENER_MAX) and counting in
 * *count. Sockets are non-blocking and close-on-exec. Returns 0, or -1
 * with a message in err. */
int listener_bind_list(const char *list, bool tls, struct listener *set,
		       size_t *count, char *err, size_t errsize);

/* Splits "host:port" / "[v6]:port" into host and port. 0 or -1. */
int listener_parse_addr(const char *text, char *host, size_t host_size,
			char *port, size_t port_size);

void listener_close_all(struct listener *set, size_t count);

#endif
