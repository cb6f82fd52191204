/* net_limits.h: the fixed limits of the transport layer, each with its
 * reason. */
#ifndef SATCHEL_NET_LIMITS_H
#define SATCHEL_NET_LIMITS_H

/* The line buffer inside every session (an idle one costs this much):
 * more than RFC 2449's 255-octet command line, so a few pipelined
 * commands fit; max_line may be set up to it. Longer lines (SASL) get a
 * buffer of their own while they last. */
#define LINEREADER_BUF 1024

/* Listening addresses of one server (listen + listen_tls). */
#define LISTENER_MAX 16
/* LMTP listening addresses (lmtp_listen), kept apart from the POP3 ones. */
#define LISTENER_LMTP_MAX 8

/* A unix:PATH listener's path, with its NUL: what sockaddr_un's sun_path
 * holds on Linux (108). */
#define LISTENER_UNIX_PATH_MAX 108

#endif
