/* keyproc.c: the key process's loop (see keyproc.h). One poll over the
 * control socket, the connect socket and the worker channels; each
 * request is answered at once (a signature takes a millisecond or two),
 * so one loop serves every worker of the generation. */
#include "serve/keyproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "net/fdpass.h"
#include "net/keyproto.h"
#include "net/tls_keyop.h"
#include "serve/limits.h"
#include "util/log.h"

struct keyproc {
	struct tls_keyop *key;
	int ctl_fd;
	int connect_fd;
	int chans[KEYPROC_CHANNELS_MAX];
	size_t nchans;
};

static int send_hello(int ctl_fd, const struct tls_keyop *key,
		      const char *error)
{
	struct keyproto_hello hello;

	memset(&hello, 0, sizeof(hello));
	if (key != NULL) {
		hello.ok = 1;
		memcpy(hello.key_id, tls_keyop_id(key), KEYPROTO_ID_LEN);
	} else {
		snprintf(hello.error, sizeof(hello.error), "%s", error);
	}
	return send(ctl_fd, &hello, sizeof(hello), MSG_NOSIGNAL) ==
	       (ssize_t)sizeof(hello) ? 0 : -1;
}

/* A worker's new channel: a SOCK_SEQPACKET socket, or it is closed. */
static void accept_channel(struct keyproc *kp)
{
	char byte;
	int fd, type = 0;
	socklen_t len = sizeof(type);
	ssize_t n = fdpass_recv(kp->connect_fd, &byte, 1, &fd);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET || kp->nchans >= KEYPROC_CHANNELS_MAX) {
		log_warn("key process: refused a channel (%s)",
			 kp->nchans >= KEYPROC_CHANNELS_MAX ? "too many" :
			 "not a seqpacket socket");
		close(fd);
		return;
	}
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	kp->chans[kp->nchans++] = fd;
}

/* One request on channel i. false when the channel is done (EOF, error,
 * a malformed message): the caller closes it. */
static bool serve_request(struct keyproc *kp, size_t i)
{
	struct keyproto_req req;
	struct keyproto_resp resp;
	ssize_t n = recv(kp->chans[i], &req, sizeof(req), MSG_TRUNC);
	bool ok;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n != (ssize_t)sizeof(req)) {
		if (n > 0)
			log_warn("key process: malformed request (%zd octets)",
				 n);
		return false;
	}
	tls_keyop_perform(kp->key, &req, &resp);
	if (resp.status != KEYPROTO_OK)
		log_warn("key process: refused operation %u (status %u)",
			 req.op, resp.status);
	ok = send(kp->chans[i], &resp, sizeof(resp),
		  MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(resp);
	OPENSSL_cleanse(&req, sizeof(req));
	return ok;
}

static void close_channel(struct keyproc *kp, size_t i)
{
	close(kp->chans[i]);
	kp->chans[i] = kp->chans[--kp->nchans];
}

static int serve(struct keyproc *kp)
{
	struct pollfd pfd[2 + KEYPROC_CHANNELS_MAX];

	for (;;) {
		size_t nchans = kp->nchans;

		pfd[0] = (struct pollfd){ .fd = kp->ctl_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = kp->connect_fd,
					  .events = POLLIN };
		for (size_t i = 0; i < nchans; i++)
			pfd[2 + i] = (struct pollfd){ .fd = kp->chans[i],
						      .events = POLLIN };
		if (poll(pfd, 2 + nchans, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("key process: poll: %s", strerror(errno));
			return EX_OSERR;
		}
		if (pfd[0].revents != 0)
			return EX_OK; /* the master closed it (or wrote) */
		/* backwards: close_channel moves the last one into i */
		for (size_t i = nchans; i-- > 0;) {
			if (pfd[2 + i].revents != 0 && !serve_request(kp, i))
				close_channel(kp, i);
		}
		if (pfd[1].revents != 0)
			accept_channel(kp);
	}
}

int keyproc_run(const struct keyproc_setup *setup)
{
	struct keyproc kp = { .ctl_fd = setup->ctl_fd,
			      .connect_fd = setup->connect_fd };
	char err[512];
	int ret;

	if (tls_keyop_load(setup->key_fd, setup->key_path, &kp.key, err,
			   sizeof(err)) < 0) {
		(void)send_hello(kp.ctl_fd, NULL, err);
		return EX_CONFIG;
	}
	close(setup->key_fd);
	if (send_hello(kp.ctl_fd, kp.key, "") < 0) {
		tls_keyop_destroy(&kp.key);
		return EX_OSERR;
	}
	(void)fcntl(kp.connect_fd, F_SETFL, O_NONBLOCK);
	ret = serve(&kp);
	for (size_t i = 0; i < kp.nchans; i++)
		close(kp.chans[i]);
	tls_keyop_destroy(&kp.key);
	return ret;
}
