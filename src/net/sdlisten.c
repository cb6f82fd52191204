/* sdlisten.c: sockets from systemd socket activation (see sdlisten.h).
 * The protocol is read by hand, as sd_listen_fds(3) documents it
 * (LISTEN_PID must be our pid, LISTEN_FDS sockets from fd 3 on), rather
 * than through libsystemd: sdnotify.c says why. */
#include "net/sdlisten.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SDLISTEN_FIRST_FD 3 /* SD_LISTEN_FDS_START */

/* The number of sockets passed to this process (0: none, or meant for
 * another one), or -1 when the variables are malformed. The variables
 * are unset either way, so no child takes them for its own. */
static int listen_fds_passed(void)
{
	const char *pid_text = getenv("LISTEN_PID");
	const char *fds_text = getenv("LISTEN_FDS");
	unsigned long pid = 0, n = 0;
	char *end;
	int ret = 0;

	if (pid_text != NULL && fds_text != NULL) {
		errno = 0;
		pid = strtoul(pid_text, &end, 10);
		if (errno != 0 || end == pid_text || *end != '\0')
			ret = -1;
		n = strtoul(fds_text, &end, 10);
		if (errno != 0 || end == fds_text || *end != '\0' ||
		    n > INT_MAX - SDLISTEN_FIRST_FD)
			ret = -1;
		if (ret == 0 && pid == (unsigned long)getpid())
			ret = (int)n;
	}
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	return ret;
}

/* What sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) checks. */
static bool is_listening_stream(int fd)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(listening);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
			  &len) == 0 && listening == 1;
}

static void close_all(struct sdlisten *sl, int first, int n)
{
	for (int i = 0; i < n; i++)
		close(first + i);
	sl->count = 0;
}

int sdlisten_collect(struct sdlisten *sl, char *err, size_t errsize)
{
	int n = listen_fds_passed();

	sl->count = 0;
	if (n < 0) {
		snprintf(err, errsize, "LISTEN_FDS or LISTEN_PID is not a "
			 "number");
		return -1;
	}
	if (n > SDLISTEN_MAX) {
		snprintf(err, errsize, "LISTEN_FDS: %d sockets, at most %d",
			 n, SDLISTEN_MAX);
		close_all(sl, SDLISTEN_FIRST_FD, n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct sdlisten_fd *f = &sl->fds[i];
		int fd = SDLISTEN_FIRST_FD + i, flags;

		f->fd = fd;
		f->addr_len = sizeof(f->addr);
		/* a listening stream socket of any family, or not ours */
		if (!is_listening_stream(fd) ||
		    getsockname(fd, (struct sockaddr *)&f->addr,
				&f->addr_len) < 0 ||
		    (f->addr.ss_family != AF_INET &&
		     f->addr.ss_family != AF_INET6 &&
		     f->addr.ss_family != AF_UNIX)) {
			snprintf(err, errsize, "LISTEN_FDS: descriptor %d is "
				 "not a listening TCP or unix stream socket",
				 fd);
			close_all(sl, SDLISTEN_FIRST_FD, n);
			return -1;
		}
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			snprintf(err, errsize, "LISTEN_FDS: descriptor %d: %s",
				 fd, strerror(errno));
			close_all(sl, SDLISTEN_FIRST_FD, n);
			return -1;
		}
	}
	sl->count = (size_t)n;
	return 0;
}

static bool same_address(const struct sockaddr_storage *have,
			 socklen_t have_len, const struct sockaddr *want,
			 socklen_t want_len)
{
	if (have->ss_family != want->sa_family)
		return false;
	if (want->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)have;
		const struct sockaddr_in *b = (const void *)want;

		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (want->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)have;
		const struct sockaddr_in6 *b = (const void *)want;

		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr,
			      sizeof(a->sin6_addr)) == 0;
	}
	if (want->sa_family == AF_UNIX) {
		const struct sockaddr_un *a = (const void *)have;
		const struct sockaddr_un *b = (const void *)want;
		size_t alen = have_len - offsetof(struct sockaddr_un, sun_path);
		size_t blen = want_len - offsetof(struct sockaddr_un, sun_path);

		/* paths without their NUL: getsockname may count it */
		alen = strnlen(a->sun_path, alen);
		blen = strnlen(b->sun_path, blen);
		return alen == blen && memcmp(a->sun_path, b->sun_path,
					      alen) == 0;
	}
	return false;
}

int sdlisten_take(struct sdlisten *sl, const struct sockaddr *addr,
		  socklen_t addr_len)
{
	for (size_t i = 0; sl != NULL && i < sl->count; i++) {
		struct sdlisten_fd *f = &sl->fds[i];
		int fd = f->fd;

		if (fd >= 0 &&
		    same_address(&f->addr, f->addr_len, addr, addr_len)) {
			f->fd = -1;
			return fd;
		}
	}
	return -1;
}

static void address_text(const struct sdlisten_fd *f, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (f->addr.ss_family == AF_UNIX) {
		snprintf(buf, size, "unix:%s",
			 ((const struct sockaddr_un *)&f->addr)->sun_path);
	} else if (f->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&f->addr;

		(void)inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)&f->addr;

		(void)inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

size_t sdlisten_close_unused(struct sdlisten *sl, char *unused, size_t size)
{
	size_t n = 0, used = 0;

	if (size > 0)
		unused[0] = '\0';
	for (size_t i = 0; i < sl->count; i++) {
		struct sdlisten_fd *f = &sl->fds[i];
		char text[160];

		if (f->fd < 0)
			continue;
		address_text(f, text, sizeof(text));
		if (used < size) {
			int w = snprintf(unused + used, size - used, "%s%s",
					 n > 0 ? ", " : "", text);

			used += w > 0 ? (size_t)w : 0;
		}
		close(f->fd);
		f->fd = -1;
		n++;
	}
	return n;
}
