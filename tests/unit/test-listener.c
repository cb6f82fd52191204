/* test-listener.c: listen lists with unix:PATH sockets: mode at creation,
 * owner and group, stale sockets replaced, live ones and other files
 * kept, bad paths refused; which addresses are loopback. */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/listener.h"
#include "unit.h"

static char dir[64];

static int bind_list(const char *list, mode_t mode, uid_t uid, gid_t gid,
		     struct listener *set, size_t *count, char *err,
		     size_t errsize)
{
	struct listener_unix_settings us = { .mode = mode, .uid = uid,
					     .gid = gid };

	*count = 0;
	return listener_bind_list(list, false, &us, set, LISTENER_LMTP_MAX,
				  count, err, errsize);
}

static bool can_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

/* A port nothing listens on just now (the kernel's pick). */
static unsigned free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	(void)getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

/* What counts as loopback (LMTP's STARTTLS/AUTH rule, POP3's
 * plaintext_auth = tls-or-loopback). */
static void test_loopback(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	CHECK(listener_host_is_loopback("127.0.0.1") &&
	      listener_host_is_loopback("127.255.0.9") &&
	      listener_host_is_loopback("::1") &&
	      listener_host_is_loopback("::ffff:127.0.0.1"),
	      "127.0.0.0/8, ::1 and IPv4-mapped 127.x are loopback");
	CHECK(!listener_host_is_loopback("10.0.0.5") &&
	      !listener_host_is_loopback("128.0.0.1") &&
	      !listener_host_is_loopback("0.0.0.0") &&
	      !listener_host_is_loopback("::") &&
	      !listener_host_is_loopback("::ffff:10.0.0.1") &&
	      !listener_host_is_loopback("::2") &&
	      !listener_host_is_loopback("localhost"),
	      "other addresses, wildcards and names are not");
	CHECK(!listener_addr_is_loopback((struct sockaddr *)&sun),
	      "a unix address is not loopback (the caller decides)");
}

int main(void)
{
	struct listener set[LISTENER_LMTP_MAX], other[LISTENER_LMTP_MAX];
	char path[128], list[256], err[256];
	size_t n, n2;
	struct stat st;
	int fd;

	test_loopback();
	snprintf(dir, sizeof(dir), "/tmp/satchel-test-listener-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/lmtp", dir);
	snprintf(list, sizeof(list), "unix:%s", path);
	CHECK(bind_list(list, 0640, (uid_t)-1, (gid_t)-1, set, &n, err,
			sizeof(err)) == 0 && n == 1, "unix socket bound");
	CHECK(set[0].is_unix && !set[0].tls, "marked unix");
	CHECK(strncmp(set[0].name, "unix:/", 6) == 0, "named unix:PATH");
	CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 07777) == 0640, "created with mode 0640");
	CHECK(can_connect(path), "it accepts connections");

	/* a live socket is another server's: not taken over */
	CHECK(bind_list(list, 0660, (uid_t)-1, (gid_t)-1, other, &n2, err,
			sizeof(err)) < 0 && strstr(err, "listens") != NULL,
	      "live socket refused");
	CHECK(can_connect(path), "the live socket still works");

	/* closed: stale, so the next bind replaces it */
	listener_close_all(set, n);
	CHECK(!can_connect(path), "closed socket refuses");
	CHECK(bind_list(list, 0600, (uid_t)-1, (gid_t)-1, set, &n, err,
			sizeof(err)) == 0, "stale socket replaced");
	CHECK(lstat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	      "new mode 0600");
	if (geteuid() == 0) {
		listener_close_all(set, n);
		CHECK(bind_list(list, 0660, 65534, 65534, set, &n, err,
				sizeof(err)) == 0, "bound with owner");
		CHECK(lstat(path, &st) == 0 && st.st_uid == 65534 &&
		      st.st_gid == 65534, "owner and group set");
	}
	listener_close_all(set, n);
	unlink(path);

	/* a regular file is never removed */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK(bind_list(list, 0660, (uid_t)-1, (gid_t)-1, set, &n, err,
			sizeof(err)) < 0 && strstr(err, "not a socket") != NULL,
	      "regular file refused");
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode),
	      "regular file kept");
	unlink(path);

	/* a symlink at the path is not followed or removed */
	snprintf(list, sizeof(list), "%s/target", dir);
	CHECK(symlink(list, path) == 0, "symlink made");
	snprintf(list, sizeof(list), "unix:%s", path);
	CHECK(bind_list(list, 0660, (uid_t)-1, (gid_t)-1, set, &n, err,
			sizeof(err)) < 0, "symlink refused");
	CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "symlink kept");
	unlink(path);

	CHECK(bind_list("unix:relative", 0660, (uid_t)-1, (gid_t)-1, set, &n,
			err, sizeof(err)) < 0, "relative path refused");
	n = 0;
	CHECK(listener_bind_list(list, false, NULL, set, LISTENER_LMTP_MAX,
				 &n, err, sizeof(err)) < 0 &&
	      strstr(err, "only for lmtp_listen") != NULL,
	      "unix: refused without unix settings (POP3 listen)");
	CHECK(listener_unix_path("unix:/x") != NULL &&
	      listener_unix_path("127.0.0.1:24") == NULL, "unix item test");

	/* TCP beside unix in one list */
	snprintf(list, sizeof(list), "127.0.0.1:%u,unix:%s", free_port(),
		 path);
	CHECK(bind_list(list, 0660, (uid_t)-1, (gid_t)-1, set, &n, err,
			sizeof(err)) == 0 && n == 2 && !set[0].is_unix &&
	      set[1].is_unix, "TCP and unix in one list");
	listener_close_all(set, n);
	unlink(path);
	rmdir(dir);
	return unit_done();
}
