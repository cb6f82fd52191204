/* fuzz-scram.c: hostile SCRAM client messages (RFC 5802 7.). The input
 * is a client-first message, optionally a NUL and a client-final one:
 * both go through the parser and the whole server exchange of
 * scram_server.c with a fixed secret and channel bindings; the first
 * byte (part of the message too) also picks the hash and -PLUS. */
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
	/* the two bindings a TLS connection offers (RFC 9266, RFC 5929) */
	static const struct scram_binding cb[2] = {
		{ .name = "tls-exporter", .data = { 1, 2, 3 }, .len = 32 },
		{ .name = "tls-server-end-point", .data = { 4 }, .len = 32 },
	};
	static struct scram_server srv;
	unsigned char stored[SCRAM_KEY_MAX] = { 0 }, server[SCRAM_KEY_MAX];
	unsigned char out[SCRAM_SERVER_MSG_MAX + 256];
	const uint8_t *sep = memchr(data, '\0', size);
	size_t first_len = sep != NULL ? (size_t)(sep - data) : size;
	struct scram_client_first cf;
	const char *why = NULL;
	size_t out_len = 0;

	if (size == 0)
		return 0;
	if (scram_parse_client_first(data, first_len, &cf, &why) == 0) {
		must(strchr("nyp", cf.cbind_flag) != NULL);
		must(cf.nonce_off + cf.nonce_len <= first_len);
		must(cf.gs2_len <= first_len);
		must(strlen(cf.user) < sizeof(cf.user));
	} else {
		must(why != NULL);
	}
	memset(server, 0x5a, sizeof(server));
	/* first byte: the hash, -PLUS or not, bindings offered or not */
	scram_server_init(&srv, data[0] & 1 ? SCRAM_SHA1 : SCRAM_SHA256,
			  (data[0] & 2) != 0, cb, data[0] & 4 ? 0 : 2);
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
