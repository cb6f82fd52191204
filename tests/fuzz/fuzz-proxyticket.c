/* fuzz-proxyticket.c: the proxy ticket check over arbitrary text: it
 * never crashes or reads past the text, and nothing but a ticket minted
 * under the key is taken (the fuzzer cannot forge the MAC, so a taken
 * input is a bug); a ticket minted at the first run is taken (once:
 * the nonces taken fill a bounded table, so only one is minted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/proxyticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyticket_key key = { .len = 32 };
	char text[512], minted[PROXYTICKET_MAX];
	static int minted_once;
	time_t now = 1800000000;

	memset(key.octets, 'k', key.len);
	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	if (proxyticket_accept(&key, "alice", text, now))
		abort();
	if (!minted_once) {
		minted_once = 1;
		if (proxyticket_mint(&key, "alice", now, minted,
				     sizeof(minted)) < 0 ||
		    !proxyticket_accept(&key, "alice", minted, now))
			abort();
	}
	return 0;
}
