/* fdpass.h: send a small message with an attached file descriptor over a
 * Unix socket (SCM_RIGHTS). Used by the master to hand the auth process the
 * socket of a (re)started worker, and for the mail agents' sockets and
 * message files (store/agent_proto.h). */
#ifndef SATCHEL_FDPASS_H
#define SATCHEL_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Sends len bytes of data with fd attached (fd -1: none). 0 or -1 (errno). */
int fdpass_send(int sock, const void *data, size_t len, int fd);
/* The same with sendmsg flags (MSG_DONTWAIT). */
int fdpass_send_flags(int sock, const void *data, size_t len, int fd,
		      int flags);
/* Receives one message; *fd_r is the attached descriptor or -1. Returns the
 * byte count, 0 on EOF, -1 on error (errno). Extra descriptors are closed. */
ssize_t fdpass_recv(int sock, void *data, size_t len, int *fd_r);
/* The same with recvmsg flags (MSG_DONTWAIT, MSG_TRUNC: then the real
 * length of a longer message is returned). */
ssize_t fdpass_recv_flags(int sock, void *data, size_t len, int flags,
			  int *fd_r);

#endif
