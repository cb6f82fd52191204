/* listener.h: parses listen addresses and binds them (in the master, as
 * root, before any privilege drop). */
#ifndef SATCHEL_LISTENER_H
#define SATCHEL_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/net_limits.h"


struct listener {
	int fd;
	bool tls;          /* implicit TLS port (listen_tls) */
	bool kpop;         /* Kerberos 5 sendauth first (kpop_listen) */
	bool is_unix;      /* unix:PATH (a local peer, like loopback) */
	bool inherited;    /* passed by systemd, not bound by us */
	/* "127.0.0.1:110" or "unix:/path" as configured */
	char name[LISTENER_UNIX_PATH_MAX + 8];
};

/* How unix:PATH sockets are made: the mode of the socket file, its owner
 * and group ((uid_t)-1 / (gid_t)-1: left as created, root's when the
 * master binds). */
struct listener_unix_settings {
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

/* Binds every address of the comma-separated list ("host:port",
 * "[v6]:port", and "unix:PATH" when unix_set is not NULL), appending to
 * set (room for capacity) and counting in *count. Sockets are
 * non-blocking and close-on-exec. A unix:PATH must be absolute; a file
 * already there is removed first only when it is a socket nobody listens
 * on (a stale one), never a regular file or a live socket. Returns 0, or
 * -1 with a message in err (what was bound before stays in set). */
int listener_bind_list(const char *list, bool tls,
		       const struct listener_unix_settings *unix_set,
		       struct listener *set, size_t capacity, size_t *count,
		       char *err, size_t errsize);

struct sdlisten;

/* The same for the master at start: an address systemd passed a socket
 * for (inherited, net/sdlisten.h) is served on that socket, not bound
 * again (no stale-file removal, no mode or owner change for a unix:
 * one: the socket unit set them); the others are bound. */
struct listener_bind_req {
	const char *list;
	bool tls;
	const struct listener_unix_settings *unix_set; /* NULL: no unix: */
	struct sdlisten *inherited;                    /* NULL: none */
};
int listener_bind_req(const struct listener_bind_req *req,
		      struct listener *set, size_t capacity, size_t *count,
		      char *err, size_t errsize);

/* The path of a "unix:PATH" item, or NULL when item is not one. */
const char *listener_unix_path(const char *item);
/* True when a unix:PATH item's path is usable: absolute and short enough
 * for sockaddr_un. */
bool listener_unix_path_valid(const char *path);

/* Splits "host:port" / "[v6]:port" into host and port. 0 or -1. */
int listener_parse_addr(const char *text, char *host, size_t host_size,
			char *port, size_t port_size);

void listener_close_all(struct listener *set, size_t count);

/* True for an address of the loopback interface: 127.0.0.0/8, ::1 and
 * IPv4-mapped 127.0.0.0/8 (::ffff:127.0.0.1); any other family (AF_UNIX
 * included) is false: the caller decides what a unix socket is. */
bool listener_addr_is_loopback(const struct sockaddr *sa);
/* A peer's address as text: IPv4 or IPv6, "local" for a unix socket,
 * "unknown" when it cannot be printed. */
void listener_addr_text(const struct sockaddr_storage *ss, char *out,
			size_t size);
/* The same for a numeric host as listener_parse_addr() gives it; false
 * for a wildcard (0.0.0.0, ::) and anything that does not parse. */
bool listener_host_is_loopback(const char *host);

#endif
