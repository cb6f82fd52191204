/* test-sdlisten.c: the sockets of systemd socket activation (sdlisten.c):
 * matching by address (IPv4 address and port, IPv6, unix path), each
 * given out once, the unused ones closed and named; LISTEN_* for another
 * pid is ignored and removed from the environment. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/sdlisten.h"
#include "unit.h"

static void add(struct sdlisten *sl, int fd, const void *addr, socklen_t len)
{
	struct sdlisten_fd *f = &sl->fds[sl->count++];

	f->fd = fd;
	memcpy(&f->addr, addr, len);
	f->addr_len = len;
}

static struct sockaddr_in v4(const char *ip, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

int main(void)
{
	struct sdlisten sl = { 0 };
	struct sockaddr_in a = v4("127.0.0.1", 110), b = v4("0.0.0.0", 110),
			   c = v4("127.0.0.1", 111);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(110) };
	struct sockaddr_un un = { .sun_family = AF_UNIX }, un2 = un;
	char names[256], err[256];
	int fds[4];

	for (int i = 0; i < 4; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	strcpy(un.sun_path, "/run/satchel/lmtp");
	add(&sl, fds[0], &a, sizeof(a));
	add(&sl, fds[1], &s6, sizeof(s6));
	/* getsockname's length for a path counts its NUL */
	add(&sl, fds[2], &un, offsetof(struct sockaddr_un, sun_path) + 18);
	add(&sl, fds[3], &c, sizeof(c));
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&b, sizeof(b)) < 0,
	      "0.0.0.0:110 is not 127.0.0.1:110");
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&a, sizeof(a)) == fds[0],
	      "127.0.0.1:110 matches");
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&a, sizeof(a)) < 0,
	      "given out once");
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&s6, sizeof(s6)) == fds[1],
	      "[::1]:110 matches");
	strcpy(un2.sun_path, "/run/satchel/lmt");
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&un2, sizeof(un2)) < 0,
	      "a prefix of the path does not match");
	CHECK(sdlisten_take(&sl, (struct sockaddr *)&un, sizeof(un)) == fds[2],
	      "the unix path matches (whatever the lengths)");
	CHECK(sdlisten_take(NULL, (struct sockaddr *)&a, sizeof(a)) < 0,
	      "no pool: nothing");
	CHECK(sdlisten_close_unused(&sl, names, sizeof(names)) == 1,
	      "one unused");
	CHECK_STR(names, "127.0.0.1:111", "named for the log");
	CHECK(fcntl(fds[3], F_GETFD) < 0, "and closed");
	CHECK(fcntl(fds[0], F_GETFD) >= 0, "a taken one stays open");

	/* not for us: ignored, and gone from the environment */
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDNAMES", "a:b", 1);
	CHECK(sdlisten_collect(&sl, err, sizeof(err)) == 0 && sl.count == 0,
	      "LISTEN_PID of another process: no sockets");
	CHECK(getenv("LISTEN_FDS") == NULL && getenv("LISTEN_PID") == NULL &&
		      getenv("LISTEN_FDNAMES") == NULL,
	      "the variables are removed");
	return unit_done();
}
