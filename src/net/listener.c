/* listener.c: listening sockets from the listen/listen_tls keys. */
#include "net/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int listener_bind_one(const char *text, bool tls, struct listener *l,
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
	freeaddrinfo(ai);
	l->fd = fd;
	l->tls = tls;
	snprintf(l->name, sizeof(l->name), "%s", text);
	return 0;

out_error:
	snprintf(err, errsize, "listen %.80s: %s", text, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

int listener_bind_list(const char *list, bool tls, struct listener *set,
		       size_t *count, char *err, size_t errsize)
{
	char copy[1024];
	char *save = NULL, *item;

	if (strlen(list) >= sizeof(copy)) {
		snprintf(err, errsize, "listen list too long");
		return -1;
	}
	strcpy(copy, list);
	for (item = strtok_r(copy, ", ", &save); item != NULL;
	     item = strtok_r(NULL, ", ", &save)) {
		if (*count >= LISTENER_MAX) {
			snprintf(err, errsize, "more than %d listen addresses",
				 LISTENER_MAX);
			return -1;
		}
		if (listener_bind_one(item, tls, &set[*count], err,
				      errsize) < 0)
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
