/* listener.c: listening sockets from the listen, listen_tls and
 * lmtp_listen keys: TCP host:port and unix:PATH. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/sdlisten.h"
#include "util/strnum.h"

int listener_parse_addr(const char *text, char *host, size_t host_size,
			char *port, size_t port_size)
{
	const char *colon;
	size_t host_len;
	uint64_t num;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		host_len = (size_t)(close - text - 1);
		text++;
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return -1;
		host_len = (size_t)(colon - text);
	}
	if (host_len == 0 || host_len >= host_size ||
	    strlen(colon + 1) >= port_size)
		return -1;
	if (strnum_parse_u64(colon + 1, 65535, &num) < 0 || num == 0)
		return -1;
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int listener_bind_one(const char *text, bool tls,
			     struct sdlisten *inherited, struct listener *l,
			     char *err, size_t errsize)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					      AI_PASSIVE };
	struct addrinfo *ai;
	char host[64], port[8];
	int fd, one = 1, rc;

	if (listener_parse_addr(text, host, sizeof(host), port,
				sizeof(port)) < 0) {
		snprintf(err, errsize, "bad listen address '%.80s' "
			 "(expected host:port or [v6]:port)", text);
		return -1;
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsize, "listen address '%.80s': %s", text,
			 gai_strerror(rc));
		return -1;
	}
	fd = sdlisten_take(inherited, ai->ai_addr, ai->ai_addrlen);
	l->inherited = fd >= 0;
	if (fd >= 0)
		goto out_done;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto out_error;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
		goto out_error;
out_done:
	freeaddrinfo(ai);
	l->fd = fd;
	l->tls = tls;
	l->is_unix = false;
	snprintf(l->name, sizeof(l->name), "%s", text);
	return 0;

out_error:
	snprintf(err, errsize, "listen %.80s: %s", text, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

const char *listener_unix_path(const char *item)
{
	return strncmp(item, "unix:", 5) == 0 ? item + 5 : NULL;
}

bool listener_unix_path_valid(const char *path)
{
	return path[0] == '/' && strlen(path) < LISTENER_UNIX_PATH_MAX;
}

/* A socket file at path that nobody listens on any more: connect() is
 * refused. A live one (another server) is not ours to take. 0 when the
 * path is free now, -1 with err. */
static int listener_remove_stale(const char *path,
				 const struct sockaddr_un *sun, char *err,
				 size_t errsize)
{
	struct stat st;
	int fd, rc, saved;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "listen unix:%s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsize, "listen unix:%s: the file exists and "
			 "is not a socket (not removed)", path);
		return -1;
	}
	/* non-blocking: a live server with a full backlog answers EAGAIN
	 * instead of holding the master's start */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	saved = errno;
	close(fd);
	if (rc == 0 || saved == EAGAIN || saved == EINPROGRESS) {
		snprintf(err, errsize, "listen unix:%s: another process "
			 "listens on it", path);
		return -1;
	}
	if (saved != ECONNREFUSED && saved != ENOENT) {
		snprintf(err, errsize, "listen unix:%s: %s", path,
			 strerror(saved));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errsize, "listen unix:%s: removing the stale "
			 "socket: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The owner and group of the socket file just bound at path. Through an
 * O_PATH|O_NOFOLLOW descriptor checked to be a socket, not by name: the
 * directory may belong to another account (Postfix's private/ is
 * postfix's), which must not be able to swap in a symlink and have root
 * chown what it points to. */
static int listener_unix_chown(const char *path,
			       const struct listener_unix_settings *us,
			       char *err, size_t errsize)
{
	struct stat st;
	int fd, ret = -1;

	if (us->uid == (uid_t)-1 && us->gid == (gid_t)-1)
		return 0;
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsize, "listen unix:%s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errsize, "listen unix:%s: replaced while being "
			 "set up", path);
		goto out_close;
	}
	if (fchownat(fd, "", us->uid, us->gid, AT_EMPTY_PATH) < 0) {
		snprintf(err, errsize, "listen unix:%s: chown: %s", path,
			 strerror(errno));
		goto out_close;
	}
	ret = 0;
out_close:
	close(fd);
	return ret;
}

static int listener_bind_unix(const char *path,
			      const struct listener_unix_settings *us,
			      struct sdlisten *inherited, struct listener *l,
			      char *err, size_t errsize)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd, rc;

	if (!listener_unix_path_valid(path)) {
		snprintf(err, errsize, "listen unix:%.80s: expected an "
			 "absolute path of at most %d octets", path,
			 LISTENER_UNIX_PATH_MAX - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = sdlisten_take(inherited, (const struct sockaddr *)&sun,
			   sizeof(sun));
	l->inherited = fd >= 0;
	if (fd >= 0)
		goto out_done;
	if (listener_remove_stale(path, &sun, err, errsize) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* The file gets its mode at creation (0777 masked by the umask),
	 * so it is never more open than configured, and no chmod by name
	 * follows. The master is single-threaded here. */
	old_umask = umask(~us->mode & 0777);
	rc = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc < 0) {
		snprintf(err, errsize, "listen unix:%s: %s", path,
			 strerror(errno));
		goto out_close;
	}
	if (listener_unix_chown(path, us, err, errsize) < 0)
		goto out_unlink;
	if (listen(fd, 1024) < 0) {
		snprintf(err, errsize, "listen unix:%s: %s", path,
			 strerror(errno));
		goto out_unlink;
	}
out_done:
	l->fd = fd;
	l->tls = false;
	l->is_unix = true;
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	return 0;

out_unlink:
	(void)unlink(path);
out_close:
	close(fd);
	return -1;
}

int listener_bind_list(const char *list, bool tls,
		       const struct listener_unix_settings *unix_set,
		       struct listener *set, size_t capacity, size_t *count,
		       char *err, size_t errsize)
{
	const struct listener_bind_req req = { .list = list, .tls = tls,
					       .unix_set = unix_set };

	return listener_bind_req(&req, set, capacity, count, err, errsize);
}

int listener_bind_req(const struct listener_bind_req *req,
		      struct listener *set, size_t capacity, size_t *count,
		      char *err, size_t errsize)
{
	const struct listener_unix_settings *unix_set = req->unix_set;
	const char *list = req->list;
	char copy[1024];
	char *save = NULL, *item;

	if (strlen(list) >= sizeof(copy)) {
		snprintf(err, errsize, "listen list too long");
		return -1;
	}
	strcpy(copy, list);
	for (item = strtok_r(copy, ", ", &save); item != NULL;
	     item = strtok_r(NULL, ", ", &save)) {
		const char *path = listener_unix_path(item);
		int rc;

		if (*count >= capacity) {
			snprintf(err, errsize, "more than %zu listen addresses",
				 capacity);
			return -1;
		}
		if (path != NULL && unix_set == NULL) {
			snprintf(err, errsize, "listen %.80s: unix: sockets "
				 "only for lmtp_listen", item);
			return -1;
		}
		if (path != NULL)
			rc = listener_bind_unix(path, unix_set, req->inherited,
						&set[*count], err, errsize);
		else
			rc = listener_bind_one(item, req->tls, req->inherited,
					       &set[*count], err, errsize);
		if (rc < 0)
			return -1;
		(*count)++;
	}
	return 0;
}

void listener_close_all(struct listener *set, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (set[i].fd >= 0)
			close(set[i].fd);
		set[i].fd = -1;
	}
}

bool listener_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		       sin6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

bool listener_host_is_loopback(const char *host)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1)
		return listener_addr_is_loopback((struct sockaddr *)&sin);
	if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1)
		return listener_addr_is_loopback((struct sockaddr *)&sin6);
	return false;
}

void listener_addr_text(const struct sockaddr_storage *ss, char *out,
			size_t size)
{
	const void *raw;

	if (ss->ss_family == AF_INET)
		raw = &((const struct sockaddr_in *)(const void *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		raw = &((const struct sockaddr_in6 *)(const void *)ss)->
			sin6_addr;
	else {
		snprintf(out, size, "local");
		return;
	}
	if (inet_ntop(ss->ss_family, raw, out, (socklen_t)size) == NULL)
		snprintf(out, size, "unknown");
}
