/* fuzz-proxyproto.c: the PROXY protocol parser over arbitrary input: it
 * never reads past the input, a header it accepts fits in the input and
 * in PROXY_HEADER_MAX, every prefix of an accepted header asks for more
 * (so a header split across reads parses the same), and the addresses
 * it gives are IPv4 or IPv6 with their own lengths. */
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
		}
		for (i = 0; i < info.header_len; i++)
			must(proxy_parse(copy, i, &again) == PROXY_NEED_MORE);
		must(proxy_parse(copy, info.header_len, &again) == PROXY_DONE &&
		     again.header_len == info.header_len);
	}
	free(copy);
	return 0;
}
