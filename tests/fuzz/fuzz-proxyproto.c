/* fuzz-proxyproto.c: the PROXY protocol parser over arbitrary input: it
 * never reads past the input, a header it accepts fits in the input and
 * in PROXY_HEADER_MAX, every prefix of an accepted header asks for more
 * (so a header split across reads parses the same), and the addresses
 * it gives are IPv4 or IPv6 with their own lengths; and the v2 encoder
 * (proxy mode's side) gives back the same addresses: parse(encode(x))
 * == x for every address the parser can produce. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxyproto.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

/* Address and port of a parsed IPv4 or IPv6 address, for comparison. */
static int same_addr(const struct sockaddr_storage *a,
		     const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	{
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
}

static void check_encode(const struct proxy_info *info)
{
	unsigned char buf[PROXY_V2_ENCODE_MAX];
	struct proxy_info back;
	int n;

	/* a mapped IPv4 address comes back as IPv4: skip those */
	if (info->src.ss_family == AF_INET6 &&
	    (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)
				    &info->src)->sin6_addr) ||
	     IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)
				    &info->dst)->sin6_addr)))
		return;
	n = proxy_encode_v2(&info->src, &info->dst, info->satchel_hops + 1,
			    buf, sizeof(buf));
	must(n > 0 && proxy_parse(buf, (size_t)n, &back) == PROXY_DONE);
	must(back.header_len == (size_t)n && !back.local);
	must(back.satchel_hops == (info->satchel_hops < 255 ?
				   info->satchel_hops + 1 : 255));
	must(same_addr(&back.src, &info->src) &&
	     same_addr(&back.dst, &info->dst));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info info, again;
	unsigned char *copy;
	enum proxy_result r;
	size_t i;

	/* an exact-size copy, so ASan sees a read past the input */
	copy = malloc(size > 0 ? size : 1);
	must(copy != NULL);
	memcpy(copy, data, size);
	r = proxy_parse(copy, size, &info);
	if (r == PROXY_DONE) {
		must(info.header_len > 0 && info.header_len <= size &&
		     info.header_len <= PROXY_HEADER_MAX);
		must(info.ssl_cn[PROXY_SSL_CN_MAX - 1] == '\0');
		if (!info.local) {
			must(info.src.ss_family == info.dst.ss_family);
			must((info.src.ss_family == AF_INET &&
			      info.src_len == sizeof(struct sockaddr_in)) ||
			     (info.src.ss_family == AF_INET6 &&
			      info.src_len == sizeof(struct sockaddr_in6)));
			check_encode(&info);
		}
		for (i = 0; i < info.header_len; i++)
			must(proxy_parse(copy, i, &again) == PROXY_NEED_MORE);
		must(proxy_parse(copy, info.header_len, &again) == PROXY_DONE &&
		     again.header_len == info.header_len);
	}
	free(copy);
	return 0;
}
