/* test-proxyproto.c: the PROXY protocol parser (proxyproto.c): v1 TCP4,
 * TCP6, UNKNOWN; v2 PROXY over IPv4 and IPv6 with an SSL TLV (verified
 * or not, the CN), LOCAL with TLVs; every prefix of a good header asks
 * for more; broken and oversized headers are refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/proxyproto.h"
#include "unit.h"

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static size_t v2(unsigned char *out, unsigned ver_cmd, unsigned fam,
		 const unsigned char *body, size_t body_len)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(body_len >> 8);
	out[15] = (unsigned char)body_len;
	memcpy(out + 16, body, body_len);
	return 16 + body_len;
}

static const char *src_text(const struct proxy_info *info, char *buf,
			    size_t size)
{
	char host[64];
	const void *a;
	int port;

	if (info->src.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&info->src;

		a = &in->sin_addr;
		port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)&info->src;

		a = &in6->sin6_addr;
		port = ntohs(in6->sin6_port);
	}
	inet_ntop(info->src.ss_family, a, host, sizeof(host));
	snprintf(buf, size, "%s %d", host, port);
	return buf;
}

static bool prefixes_need_more(const unsigned char *h, size_t len)
{
	struct proxy_info info;
	size_t i;

	for (i = 0; i < len; i++) {
		if (proxy_parse(h, i, &info) != PROXY_NEED_MORE)
			return false;
	}
	return true;
}

static void test_v1(void)
{
	struct proxy_info info;
	char buf[128];
	const char *h4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\nUSER";
	const char *h6 = "PROXY TCP6 2001:db8::7 2001:db8::1 4000 995\r\n";
	const char *bad[] = {
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324 110 x\r\n",
		"PROXY TCP4 192.0.2.700 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n",
		"PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
		"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",
		"USER alice\r\n",
	};
	size_t i;

	CHECK(proxy_parse((const unsigned char *)h4, strlen(h4), &info) ==
		      PROXY_DONE && !info.local,
	      "v1 TCP4");
	CHECK(info.header_len == strlen(h4) - 4, "v1: the header's length");
	CHECK_STR(src_text(&info, buf, sizeof(buf)), "192.0.2.7 56324",
		  "v1 TCP4 source");
	CHECK(proxy_parse((const unsigned char *)h6, strlen(h6), &info) ==
		      PROXY_DONE,
	      "v1 TCP6");
	CHECK_STR(src_text(&info, buf, sizeof(buf)), "2001:db8::7 4000",
		  "v1 TCP6 source");
	CHECK(prefixes_need_more((const unsigned char *)h6, strlen(h6)),
	      "v1: every prefix asks for more");
	CHECK(proxy_parse((const unsigned char *)"PROXY UNKNOWN\r\n", 15,
			  &info) == PROXY_DONE &&
		      info.local && info.header_len == 15,
	      "v1 UNKNOWN: the connection's addresses");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "v1 refused: %.*s",
			 (int)strcspn(bad[i], "\r\n"), bad[i]);
		CHECK(proxy_parse((const unsigned char *)bad[i],
				  strlen(bad[i]), &info) == PROXY_BAD, buf);
	}
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	CHECK(proxy_parse((const unsigned char *)buf, sizeof(buf), &info) ==
		      PROXY_BAD,
	      "v1: no CRLF within 107 octets");
}

static void test_v2(void)
{
	unsigned char h[2048], body[1200];
	struct proxy_info info;
	char buf[128];
	size_t n;
	/* 192.0.2.9:40000 -> 198.51.100.1:995, SSL TLV: client SSL +
	 * cert_conn, verify 0, CN "alice" */
	static const unsigned char ipv4_ssl[] = {
		192, 0, 2, 9, 198, 51, 100, 1, 0x9c, 0x40, 0x03, 0xe3,
		0x20, 0x00, 0x0d, 0x03, 0, 0, 0, 0,
		0x22, 0x00, 0x05, 'a', 'l', 'i', 'c', 'e',
	};
	static const unsigned char ipv4_failed[] = {
		192, 0, 2, 9, 198, 51, 100, 1, 0x9c, 0x40, 0x03, 0xe3,
		0x20, 0x00, 0x05, 0x03, 0, 0, 0, 1,
	};

	n = v2(h, 0x21, 0x11, ipv4_ssl, sizeof(ipv4_ssl));
	CHECK(proxy_parse(h, n + 3, &info) == PROXY_DONE &&
		      info.header_len == n && !info.local,
	      "v2 PROXY TCP4");
	CHECK_STR(src_text(&info, buf, sizeof(buf)), "192.0.2.9 40000",
		  "v2 source");
	CHECK(info.ssl && info.ssl_verified, "v2 SSL TLV: verified");
	CHECK_STR(info.ssl_cn, "alice", "v2 SSL TLV: the CN");
	CHECK(prefixes_need_more(h, n), "v2: every prefix asks for more");
	n = v2(h, 0x21, 0x11, ipv4_failed, sizeof(ipv4_failed));
	CHECK(proxy_parse(h, n, &info) == PROXY_DONE && info.ssl &&
		      !info.ssl_verified && info.ssl_verify_failed,
	      "v2 SSL TLV: a failed verification is not verified");
	memset(body, 0, 36);
	body[15] = 7;           /* ::7 */
	body[32] = 0x0f;        /* port 4000 */
	body[33] = 0xa0;
	n = v2(h, 0x21, 0x21, body, 36);
	CHECK(proxy_parse(h, n, &info) == PROXY_DONE &&
		      info.src.ss_family == AF_INET6,
	      "v2 PROXY TCP6");
	CHECK_STR(src_text(&info, buf, sizeof(buf)), "::7 4000",
		  "v2 TCP6 source");
	/* LOCAL with a TLV (HAProxy's health checks may carry some) */
	body[0] = 0x04;
	body[1] = 0x00;
	body[2] = 0x01;
	body[3] = 'x';
	n = v2(h, 0x20, 0x00, body, 4);
	CHECK(proxy_parse(h, n, &info) == PROXY_DONE && info.local &&
		      info.header_len == n,
	      "v2 LOCAL: the connection's addresses");
	n = v2(h, 0x31, 0x11, ipv4_ssl, sizeof(ipv4_ssl));
	CHECK(proxy_parse(h, n, &info) == PROXY_BAD, "v2: version 3 refused");
	n = v2(h, 0x22, 0x11, ipv4_ssl, sizeof(ipv4_ssl));
	CHECK(proxy_parse(h, n, &info) == PROXY_BAD, "v2: command 2 refused");
	n = v2(h, 0x21, 0x11, ipv4_ssl, 10);
	CHECK(proxy_parse(h, n, &info) == PROXY_BAD,
	      "v2: an address block too short");
	n = v2(h, 0x21, 0x11, ipv4_ssl, sizeof(ipv4_ssl) - 2);
	CHECK(proxy_parse(h, n, &info) == PROXY_BAD, "v2: a TLV cut short");
	memset(body, 0, sizeof(body));
	n = v2(h, 0x21, 0x11, body, 1100);
	CHECK(proxy_parse(h, n, &info) == PROXY_BAD &&
		      proxy_parse(h, 16, &info) == PROXY_BAD,
	      "v2: longer than PROXY_HEADER_MAX refused at the prefix");
}

static void set_addr(struct sockaddr_storage *ss, const char *host,
		     int port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':') == NULL) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		inet_pton(AF_INET, host, &in->sin_addr);
		in->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, host, &in6->sin6_addr);
		in6->sin6_port = htons((uint16_t)port);
	}
}

/* parse(encode(x)) == x, for both families; a mapped IPv4 address goes
 * out as IPv4; mixed families and short buffers are refused. */
static void test_encode(void)
{
	static const struct { const char *src, *dst, *want; } cases[] = {
		{ "127.0.0.20", "127.0.0.1", "127.0.0.20 40000" },
		{ "2001:db8::5", "2001:db8::1", "2001:db8::5 40000" },
		{ "::ffff:192.0.2.7", "::ffff:192.0.2.1", "192.0.2.7 40000" },
	};
	unsigned char buf[PROXY_V2_ENCODE_MAX];
	struct sockaddr_storage src, dst;
	struct proxy_info info;
	char text[80];
	int n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_addr(&src, cases[i].src, 40000);
		set_addr(&dst, cases[i].dst, 110);
		n = proxy_encode_v2(&src, &dst, 0, buf, sizeof(buf));
		CHECK(n == 28 || n == 52, "encode: a v2 header's length");
		CHECK(n > 0 && proxy_parse(buf, (size_t)n, &info) == PROXY_DONE,
		      "encode: the parser takes it");
		CHECK(info.header_len == (size_t)n && !info.local,
		      "encode: whole header, a PROXY command");
		CHECK_STR(src_text(&info, text, sizeof(text)), cases[i].want,
			  "encode: the source comes back");
		CHECK(ntohs(info.dst.ss_family == AF_INET ?
			    ((struct sockaddr_in *)&info.dst)->sin_port :
			    ((struct sockaddr_in6 *)&info.dst)->sin6_port) ==
		      110, "encode: the destination port comes back");
		CHECK(n > 0 && prefixes_need_more(buf, (size_t)n),
		      "encode: every prefix asks for more");
	}
	set_addr(&src, "127.0.0.1", 1);
	set_addr(&dst, "::1", 2);
	CHECK(proxy_encode_v2(&src, &dst, 0, buf, sizeof(buf)) < 0,
	      "encode: mixed families refused");
	CHECK(proxy_encode_v2(&src, &src, 0, buf, 20) < 0,
	      "encode: short buffer refused");
}

/* The hop count travels in satchel's TLV, capped at 255; a TLV of the
 * same number without the magic is not counted. */
static void test_hops(void)
{
	unsigned char buf[PROXY_V2_ENCODE_MAX];
	struct sockaddr_storage src, dst;
	struct proxy_info info;
	int n;

	set_addr(&src, "127.0.0.20", 40000);
	set_addr(&dst, "127.0.0.1", 110);
	n = proxy_encode_v2(&src, &dst, 0, buf, sizeof(buf));
	CHECK(n == 28 && proxy_parse(buf, (size_t)n, &info) == PROXY_DONE &&
	      info.satchel_hops == 0, "hops: none without the TLV");
	n = proxy_encode_v2(&src, &dst, 2, buf, sizeof(buf));
	CHECK(n == 39 && proxy_parse(buf, (size_t)n, &info) == PROXY_DONE &&
	      info.satchel_hops == 2, "hops: 2 come back");
	CHECK(n > 0 && prefixes_need_more(buf, (size_t)n),
	      "hops: every prefix asks for more");
	n = proxy_encode_v2(&src, &dst, 1000, buf, sizeof(buf));
	CHECK(n == 39 && proxy_parse(buf, (size_t)n, &info) == PROXY_DONE &&
	      info.satchel_hops == 255, "hops: capped at 255");
	buf[n - 2] = 'X'; /* the magic's last octet */
	CHECK(proxy_parse(buf, (size_t)n, &info) == PROXY_DONE &&
	      info.satchel_hops == 0, "hops: another program's TLV 0xEC");
	set_addr(&src, "2001:db8::5", 40000);
	set_addr(&dst, "2001:db8::1", 110);
	n = proxy_encode_v2(&src, &dst, 3, buf, sizeof(buf));
	CHECK(n == PROXY_V2_ENCODE_MAX &&
	      proxy_parse(buf, (size_t)n, &info) == PROXY_DONE &&
	      info.satchel_hops == 3, "hops: IPv6 with the TLV fills the buffer");
}

int main(void)
{
	test_v1();
	test_v2();
	test_encode();
	test_hops();
	return unit_done();
}
