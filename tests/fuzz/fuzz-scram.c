/* fuzz-scram.c: hostile SCRAM client messages (RFC 5802 7.). The input
 * is a client-first message, optionally a NUL and a client-final one:
 * both go through the parser and the whole server exchange of
 * scram_server.c with a fixed secret and channel binding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/scram.h"
#include "auth/scram_server.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char salt[16] = "fuzz-salt-16-oct";
	static const unsigned char cb[32] = { 1, 2, 3 };
	static struct scram_server srv;
	unsigned char stored[SCRAM_KEY_MAX] = { 0 }, server[SCRAM_KEY_MAX];
	unsigned char out[SCRAM_SERVER_MSG_MAX + 256];
	const uint8_t *sep = memchr(data, '\0', size);
	size_t first_len = sep != NULL ? (size_t)(sep - data) : size;
	struct scram_client_first cf;
	const char *why = NULL;
	size_t out_len = 0;

	if (scram_parse_client_first(data, first_len, &cf, &why) == 0) {
		must(strchr("nyp", cf.cbind_flag) != NULL);
		must(cf.nonce_off + cf.nonce_len <= first_len);
		must(cf.gs2_len <= first_len);
		must(strlen(cf.user) < sizeof(cf.user));
	} else {
		must(why != NULL);
	}
	memset(server, 0x5a, sizeof(server));
	scram_server_init(&srv, data[0] & 1 ? SCRAM_SHA1 : SCRAM_SHA256,
			  "tls-server-end-point", cb, sizeof(cb));
	if (scram_server_client_first(&srv, data, first_len, &why) == 0 &&
	    scram_server_first(&srv, 4096, salt, sizeof(salt), stored, server,
			       out, sizeof(out), &out_len) == 0) {
		must(out_len <= sizeof(out));
		if (sep != NULL)
			(void)scram_server_client_final(
				&srv, sep + 1, size - first_len - 1, out,
				sizeof(out), &out_len, &why);
	}
	scram_server_clear(&srv);
	return 0;
}
