/* sdnotify.c: the sd_notify protocol by hand (sdnotify.h). NOTIFY_SOCKET
 * names an AF_UNIX datagram socket: a path, or an abstract name when it
 * starts with '@'. Written here instead of linking libsystemd, whose seven
 * libraries every satchel command loaded at each start, though only the
 * master of `satchel serve` ever says anything to systemd (about 2 ms per
 * start: `satchel deliver` starts once per message). */
#include "net/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sdnotify_send(const char *text)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len, text_len = strlen(text);
	ssize_t n;
	int fd, err;

	if (name == NULL || name[0] == '\0')
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* an abstract name is exactly its octets; a path may have its NUL */
	n = sendto(fd, text, text_len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			       (name[0] == '/')));
	err = errno;
	close(fd);
	errno = err;
	return n == (ssize_t)text_len ? 0 : -1;
}
