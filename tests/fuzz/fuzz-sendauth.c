/* fuzz-sendauth.c: the sendauth framing (net/sendauth.h) over arbitrary
 * input: it never reads past the input, what it accepts fits in the
 * input and the bounds, every prefix of accepted input asks for more (so
 * a message split across reads parses the same), a refusal of the
 * versions always names a reply octet, and parse(encode(m)) == m. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sendauth.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static void check_versions(const uint8_t *data, size_t size)
{
	enum sendauth_reply reply = SENDAUTH_REPLY_OK;
	const char *error = NULL;
	size_t used = 0;
	enum sendauth_result r = sendauth_parse_versions(
		data, size, SENDAUTH_KPOP_VERSION, &used, &reply, &error);

	if (r == SENDAUTH_BAD)
		must(error != NULL && reply != SENDAUTH_REPLY_OK);
	if (r != SENDAUTH_DONE)
		return;
	must(used <= size && used == 4 + sizeof(SENDAUTH_VERSION) + 4 +
					     sizeof(SENDAUTH_KPOP_VERSION));
	must(reply == SENDAUTH_REPLY_OK);
	for (size_t i = 0; i < used; i++) {
		size_t u2;

		must(sendauth_parse_versions(data, i, SENDAUTH_KPOP_VERSION,
					     &u2, &reply, &error) ==
		     SENDAUTH_MORE);
	}
}

static void check_message(const uint8_t *data, size_t size, size_t max)
{
	const unsigned char *msg = NULL;
	const char *error = NULL;
	size_t msg_len = 0, used = 0;
	enum sendauth_result r = sendauth_parse_message(data, size, max, &msg,
							&msg_len, &used,
							&error);
	unsigned char *copy;

	if (r == SENDAUTH_BAD)
		must(error != NULL);
	if (r != SENDAUTH_DONE)
		return;
	must(msg == data + 4 && msg_len > 0 && msg_len <= max &&
	     used == msg_len + 4 && used <= size);
	/* a prefix asks for more, unless its length field alone is bad */
	for (size_t i = 0; i < used; i += 1 + used / 64) {
		const unsigned char *m2;
		size_t l2, u2;

		must(sendauth_parse_message(data, i, max, &m2, &l2, &u2,
					    &error) == SENDAUTH_MORE);
	}
	copy = malloc(used);
	if (copy == NULL)
		return;
	must(sendauth_encode_message(msg, msg_len, copy, used) == (long)used);
	must(memcmp(copy, data, used) == 0);
	must(sendauth_encode_message(msg, msg_len, copy, used - 1) == -1);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_versions(data, size);
	check_message(data, size, SENDAUTH_AP_REQ_MAX);
	check_message(data, size, 16);
	return 0;
}
