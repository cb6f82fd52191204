/* proxyproto.h: the PROXY protocol header (HAProxy's specification,
 * versions 1 and 2) that a load balancer sends before the client's first
 * byte, naming the client's address. Only a parser: which peers may send
 * one (proxy_trusted) and what the session does with the addresses is
 * the caller's.
 *
 * Version 1: one text line "PROXY TCP4|TCP6|UNKNOWN ... CRLF" of at most
 * 107 octets. Version 2: a 16-octet binary prefix (the 12-octet
 * signature, version and command, family and protocol, a 2-octet
 * length), the addresses, then TLVs. A v2 header is accepted up to
 * PROXY_HEADER_MAX octets in all; longer ones are refused, so a peer
 * cannot make us buffer 64 KB before the session starts. */
#ifndef SATCHEL_PROXYPROTO_H
#define SATCHEL_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107
#define PROXY_HEADER_MAX 1024
#define PROXY_SSL_CN_MAX 256

enum proxy_result {
	PROXY_NEED_MORE,   /* a valid beginning: read more */
	PROXY_DONE,        /* *info filled, header_len octets to consume */
	PROXY_BAD,         /* not a PROXY header (or a broken one) */
};

struct proxy_info {
	size_t header_len;
	/* LOCAL (v2, a health check) or UNKNOWN (v1) or an address family
	 * we do not take: the connection's own addresses stand */
	bool local;
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len;
	/* v2 PP2_TYPE_SSL: the client spoke TLS to the proxy */
	bool ssl;
	bool ssl_verified;  /* it sent a certificate that verified */
	bool ssl_verify_failed;  /* the proxy reports a failed verification */
	char ssl_cn[PROXY_SSL_CN_MAX];  /* its CN, "" when none */
	/* satchel's own TLV: how many satchel proxies (proxy mode) the
	 * session has passed, 0 when none said so; the loop guard */
	unsigned satchel_hops;
};

/* The PROXY v2 header a proxy sends before its first byte: PROXY
 * command, TCP over IPv4 or IPv6, src and dst (same family; an IPv4
 * address mapped into IPv6 is sent as IPv4) and, when hops > 0, satchel's
 * hop-count TLV (a type of the custom range, its value "satchel" and one
 * octet; hops above 255 are sent as 255). Returns its length (28 or 52
 * octets, 11 more with the TLV), or -1 for another family or a buffer
 * smaller than PROXY_V2_ENCODE_MAX. */
#define PROXY_V2_ENCODE_MAX 63
int proxy_encode_v2(const struct sockaddr_storage *src,
		    const struct sockaddr_storage *dst, unsigned hops,
		    unsigned char *buf, size_t size);

/* Parses the start of a connection's input. Never reads past len. */
enum proxy_result proxy_parse(const unsigned char *buf, size_t len,
			      struct proxy_info *info);

#endif
