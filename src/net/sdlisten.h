/* sdlisten.h: listening sockets handed over by systemd socket
 * activation (sd_listen_fds(3): LISTEN_FDS sockets from fd 3 on, meant
 * for the process LISTEN_PID). The master takes them once at start and
 * uses each for the configured address it is bound to, in place of
 * binding that address itself (net/listener.h). */
#ifndef SATCHEL_SDLISTEN_H
#define SATCHEL_SDLISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* More than every listener of a config (listen, listen_tls,
 * lmtp_listen, metrics_listen) can name. */
#define SDLISTEN_MAX 32

struct sdlisten_fd {
	int fd;                         /* -1 once taken or closed */
	struct sockaddr_storage addr;   /* what it is bound to */
	socklen_t addr_len;
};

struct sdlisten {
	size_t count;
	struct sdlisten_fd fds[SDLISTEN_MAX];
};

/* Takes the passed sockets (none when LISTEN_PID is not ours) and
 * unsets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES so no child sees
 * them; each is made non-blocking and close-on-exec. 0, or -1 with err
 * when a passed descriptor is not a listening stream socket (TCP or
 * unix) or there are more than SDLISTEN_MAX (all are closed then). */
int sdlisten_collect(struct sdlisten *sl, char *err, size_t errsize);
/* The passed socket bound to addr, or -1: each is given out once.
 * NULL-safe. TCP addresses match by family, address and port; unix
 * ones by path. */
int sdlisten_take(struct sdlisten *sl, const struct sockaddr *addr,
		  socklen_t addr_len);
/* Closes the passed sockets no listener took; their addresses (as
 * text, comma-separated, at most size octets) go to unused for the log.
 * Returns how many. */
size_t sdlisten_close_unused(struct sdlisten *sl, char *unused, size_t size);

#endif
