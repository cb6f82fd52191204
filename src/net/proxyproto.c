/* proxyproto.c: the PROXY protocol v1 and v2 parser (proxyproto.h). */
#include "net/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "util/strnum.h"

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
	0x55, 0x49, 0x54, 0x0a,
};

#define PROXY_V2_PREFIX 16
#define PP2_CMD_LOCAL 0x0
#define PP2_CMD_PROXY 0x1
#define PP2_FAM_INET 0x1
#define PP2_FAM_INET6 0x2
#define PP2_PROTO_STREAM 0x1
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_CN 0x22
/* 0xE0-0xEF are for private use; the magic keeps another program's TLV
 * of the same number from counting as hops */
#define PP2_TYPE_SATCHEL_HOPS 0xEC
#define PP2_SATCHEL_MAGIC "satchel"
#define PP2_SATCHEL_MAGIC_LEN (sizeof(PP2_SATCHEL_MAGIC) - 1)
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

/* ---- version 1 ---- */

/* One port: 0-65535 in decimal, no sign, no leading zero but "0". */
static int proxy_v1_port(const char *s, in_port_t *port_r)
{
	uint64_t v;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') ||
	    strnum_parse_u64(s, 65535, &v) < 0)
		return -1;
	*port_r = htons((uint16_t)v);
	return 0;
}

static int proxy_v1_addr(int family, const char *addr, const char *port,
			 struct sockaddr_storage *ss, socklen_t *len_r)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1 ||
		    proxy_v1_port(port, &in->sin_port) < 0)
			return -1;
		*len_r = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1 ||
		    proxy_v1_port(port, &in6->sin6_port) < 0)
			return -1;
		*len_r = sizeof(*in6);
	}
	return 0;
}

static enum proxy_result proxy_parse_v1(const unsigned char *buf, size_t len,
					struct proxy_info *info)
{
	char line[PROXY_V1_MAX + 1], *field[6], *save = NULL, *tok;
	const unsigned char *crlf;
	size_t n, i;
	int family;

	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	crlf = memchr(buf, '\r', n);
	/* a bare LF ends no header: refused rather than waited for */
	if (memchr(buf, '\n', crlf != NULL ? (size_t)(crlf - buf) : n) != NULL)
		return PROXY_BAD;
	if (crlf == NULL)
		return len < PROXY_V1_MAX ? PROXY_NEED_MORE : PROXY_BAD;
	n = (size_t)(crlf - buf);
	if (n + 1 >= len)
		return PROXY_NEED_MORE;
	if (crlf[1] != '\n')
		return PROXY_BAD;
	memcpy(line, buf, n);
	line[n] = '\0';
	if (memchr(line, '\0', n) != NULL)
		return PROXY_BAD;
	info->header_len = n + 2;
	/* exactly one blank between fields, as the specification says */
	if (n == 0 || strstr(line, "  ") != NULL || line[n - 1] == ' ')
		return PROXY_BAD;
	for (i = 0, tok = strtok_r(line, " ", &save); tok != NULL && i < 6;
	     tok = strtok_r(NULL, " ", &save))
		field[i++] = tok;
	if (i < 2 || strcmp(field[0], "PROXY") != 0)
		return PROXY_BAD;
	if (strcmp(field[1], "UNKNOWN") == 0) {
		/* anything may follow; the connection's addresses stand */
		info->local = true;
		return PROXY_DONE;
	}
	if (tok != NULL || i != 6)
		return PROXY_BAD;
	if (strcmp(field[1], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(field[1], "TCP6") == 0)
		family = AF_INET6;
	else
		return PROXY_BAD;
	if (proxy_v1_addr(family, field[2], field[4], &info->src,
			  &info->src_len) < 0 ||
	    proxy_v1_addr(family, field[3], field[5], &info->dst,
			  &info->dst_len) < 0)
		return PROXY_BAD;
	return PROXY_DONE;
}

/* ---- version 2 ---- */

static uint16_t proxy_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The SSL TLV: client flags, verify result, then sub-TLVs (the CN). */
static int proxy_v2_ssl(const unsigned char *v, size_t len,
			struct proxy_info *info)
{
	uint32_t verify;
	size_t off = 5;

	if (len < 5)
		return -1;
	verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 |
		 (uint32_t)v[3] << 8 | v[4];
	info->ssl = (v[0] & PP2_CLIENT_SSL) != 0;
	info->ssl_verify_failed = verify != 0;
	/* verify 0 means verified only when a certificate was sent */
	info->ssl_verified = info->ssl && verify == 0 &&
			     (v[0] & (PP2_CLIENT_CERT_CONN |
				      PP2_CLIENT_CERT_SESS)) != 0;
	while (off < len) {
		size_t sub_len;

		if (len - off < 3)
			return -1;
		sub_len = proxy_be16(v + off + 1);
		if (sub_len > len - off - 3)
			return -1;
		if (v[off] == PP2_SUBTYPE_SSL_CN && sub_len > 0 &&
		    sub_len < sizeof(info->ssl_cn) &&
		    memchr(v + off + 3, '\0', sub_len) == NULL) {
			memcpy(info->ssl_cn, v + off + 3, sub_len);
			info->ssl_cn[sub_len] = '\0';
		}
		off += 3 + sub_len;
	}
	return 0;
}

static int proxy_v2_tlvs(const unsigned char *p, size_t len,
			 struct proxy_info *info)
{
	size_t off = 0;

	while (off < len) {
		size_t vlen;

		if (len - off < 3)
			return -1;
		vlen = proxy_be16(p + off + 1);
		if (vlen > len - off - 3)
			return -1;
		if (p[off] == PP2_TYPE_SSL &&
		    proxy_v2_ssl(p + off + 3, vlen, info) < 0)
			return -1;
		if (p[off] == PP2_TYPE_SATCHEL_HOPS &&
		    vlen == PP2_SATCHEL_MAGIC_LEN + 1 &&
		    memcmp(p + off + 3, PP2_SATCHEL_MAGIC,
			   PP2_SATCHEL_MAGIC_LEN) == 0)
			info->satchel_hops = p[off + 3 + PP2_SATCHEL_MAGIC_LEN];
		off += 3 + vlen;
	}
	return 0;
}

static enum proxy_result proxy_parse_v2(const unsigned char *buf, size_t len,
					struct proxy_info *info)
{
	unsigned cmd, fam, proto;
	size_t body, addr_len = 0;
	const unsigned char *a;

	if (len < PROXY_V2_PREFIX)
		return PROXY_NEED_MORE;
	if ((buf[12] >> 4) != 2)
		return PROXY_BAD;
	cmd = buf[12] & 0xf;
	fam = buf[13] >> 4;
	proto = buf[13] & 0xf;
	body = proxy_be16(buf + 14);
	if (cmd > PP2_CMD_PROXY || PROXY_V2_PREFIX + body > PROXY_HEADER_MAX)
		return PROXY_BAD;
	if (len < PROXY_V2_PREFIX + body)
		return PROXY_NEED_MORE;
	info->header_len = PROXY_V2_PREFIX + body;
	a = buf + PROXY_V2_PREFIX;
	if (cmd == PP2_CMD_PROXY && proto == PP2_PROTO_STREAM &&
	    fam == PP2_FAM_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&info->dst;

		addr_len = 12;
		if (body < addr_len)
			return PROXY_BAD;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		info->src_len = info->dst_len = sizeof(*s);
	} else if (cmd == PP2_CMD_PROXY && proto == PP2_PROTO_STREAM &&
		   fam == PP2_FAM_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&info->dst;

		addr_len = 36;
		if (body < addr_len)
			return PROXY_BAD;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		info->src_len = info->dst_len = sizeof(*s);
	} else {
		/* LOCAL, UNSPEC, unix sockets, datagrams: the address block
		 * (whatever its size) is skipped with the TLVs unread */
		info->local = true;
		return PROXY_DONE;
	}
	if (proxy_v2_tlvs(a + addr_len, body - addr_len, info) < 0)
		return PROXY_BAD;
	return PROXY_DONE;
}

enum proxy_result proxy_parse(const unsigned char *buf, size_t len,
			      struct proxy_info *info)
{
	static const char v1[] = "PROXY ";
	size_t n;

	memset(info, 0, sizeof(*info));
	n = len < sizeof(proxy_v2_sig) ? len : sizeof(proxy_v2_sig);
	if (memcmp(buf, proxy_v2_sig, n) == 0)
		return n < sizeof(proxy_v2_sig) ? PROXY_NEED_MORE :
						   proxy_parse_v2(buf, len, info);
	n = len < sizeof(v1) - 1 ? len : sizeof(v1) - 1;
	if (memcmp(buf, v1, n) == 0)
		return n < sizeof(v1) - 1 ? PROXY_NEED_MORE :
					     proxy_parse_v1(buf, len, info);
	return PROXY_BAD;
}

/* ---- the v2 encoder (proxy mode's side) ---- */

/* An IPv4 address inside an IPv6 one (::ffff:a.b.c.d) as plain IPv4, so a
 * dual-stack listener's clients reach the backend as the same family
 * the backend's own proxy_trusted and limits use. */
static void proxy_unmap(const struct sockaddr_storage *in,
			struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)in;

	*out = *in;
	if (in->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)out;
		in_port_t port = in6->sin6_port;
		struct in_addr a;

		memcpy(&a, in6->sin6_addr.s6_addr + 12, 4);
		memset(out, 0, sizeof(*out));
		v4->sin_family = AF_INET;
		v4->sin_addr = a;
		v4->sin_port = port;
	}
}

/* The v2 address block: source and destination address (alen octets
 * each), then the two ports, all in network order. Returns its length. */
static size_t proxy_put_addrs(unsigned char *a, const void *src,
			      const void *dst, size_t alen, const void *sport,
			      const void *dport)
{
	memcpy(a, src, alen);
	memcpy(a + alen, dst, alen);
	memcpy(a + 2 * alen, sport, 2);
	memcpy(a + 2 * alen + 2, dport, 2);
	return 2 * alen + 4;
}

int proxy_encode_v2(const struct sockaddr_storage *src_in,
		    const struct sockaddr_storage *dst_in, unsigned hops,
		    unsigned char *buf, size_t size)
{
	const struct sockaddr_in *s4, *d4;
	const struct sockaddr_in6 *s6, *d6;
	struct sockaddr_storage src, dst;
	unsigned char *a = buf + PROXY_V2_PREFIX;
	size_t body;

	proxy_unmap(src_in, &src);
	proxy_unmap(dst_in, &dst);
	if (size < PROXY_V2_ENCODE_MAX || src.ss_family != dst.ss_family)
		return -1;
	memcpy(buf, proxy_v2_sig, sizeof(proxy_v2_sig));
	buf[12] = 0x20 | PP2_CMD_PROXY;
	s4 = (const struct sockaddr_in *)&src;
	d4 = (const struct sockaddr_in *)&dst;
	s6 = (const struct sockaddr_in6 *)&src;
	d6 = (const struct sockaddr_in6 *)&dst;
	if (src.ss_family == AF_INET) {
		buf[13] = PP2_FAM_INET << 4 | PP2_PROTO_STREAM;
		body = proxy_put_addrs(a, &s4->sin_addr, &d4->sin_addr, 4,
				       &s4->sin_port, &d4->sin_port);
	} else if (src.ss_family == AF_INET6) {
		buf[13] = PP2_FAM_INET6 << 4 | PP2_PROTO_STREAM;
		body = proxy_put_addrs(a, &s6->sin6_addr, &d6->sin6_addr, 16,
				       &s6->sin6_port, &d6->sin6_port);
	} else {
		return -1;
	}
	if (hops > 0) {
		unsigned char *t = a + body;

		t[0] = PP2_TYPE_SATCHEL_HOPS;
		t[1] = 0;
		t[2] = PP2_SATCHEL_MAGIC_LEN + 1;
		memcpy(t + 3, PP2_SATCHEL_MAGIC, PP2_SATCHEL_MAGIC_LEN);
		t[3 + PP2_SATCHEL_MAGIC_LEN] =
			(unsigned char)(hops > 255 ? 255 : hops);
		body += 4 + PP2_SATCHEL_MAGIC_LEN;
	}
	buf[14] = (unsigned char)(body >> 8);
	buf[15] = (unsigned char)body;
	return (int)(PROXY_V2_PREFIX + body);
}
