/* fuzz-authproto.c: arbitrary messages on the auth sockets, checked as
 * the auth process checks what a worker sends and as a worker checks
 * what the auth process sends (auth_proto.c); what passes must be safe
 * to use: every string ends inside its field, data_len fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_proto.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the receive buffers: as big as the largest message, aligned */
	static struct auth_sasl_request rx;
	static struct auth_reply reply;
	size_t n;

	/* the real length may exceed the buffer (MSG_TRUNC): the first
	 * two bytes, when present, stretch it */
	n = size;
	if (size >= 2 && data[0] == 0xff)
		n = size + ((size_t)data[1] << 8);
	memset(&rx, 0, sizeof(rx));
	memcpy(&rx, data, size < sizeof(rx) ? size : sizeof(rx));
	switch (auth_proto_check_request(&rx, n)) {
	case AUTH_MSG_SASL:
		must(n == AUTH_SASL_REQUEST_HDR + rx.data_len);
		must(rx.data_len <= AUTH_SASL_DATA_MAX);
		must(memchr(rx.mech, '\0', sizeof(rx.mech)) != NULL);
		must(memchr(rx.client_addr, 0, sizeof(rx.client_addr)) != NULL);
		must(memchr(rx.peer_cn, '\0', sizeof(rx.peer_cn)) != NULL);
		break;
	case AUTH_MSG_REQUEST: {
		struct auth_request *req = (struct auth_request *)&rx;

		must(n == sizeof(*req));
		must(req->type < AUTH_REQ_SASL_START ||
		     req->type > AUTH_REQ_SASL_ABORT);
		must(strlen(req->user) < sizeof(req->user));
		must(strlen(req->secret) < sizeof(req->secret));
		must(strlen(req->timestamp) < sizeof(req->timestamp));
		must(strlen(req->client_addr) < sizeof(req->client_addr));
		break;
	}
	case AUTH_MSG_BAD:
		break;
	}
	memset(&reply, 0, sizeof(reply));
	memcpy(&reply, data, size < sizeof(reply) ? size : sizeof(reply));
	if (auth_proto_check_reply(&reply, n)) {
		must(n == AUTH_REPLY_HDR + reply.data_len);
		must(reply.data_len <= AUTH_SASL_OUT_MAX);
		must(strlen(reply.user) < sizeof(reply.user));
		must(strlen(reply.mail_path) < sizeof(reply.mail_path));
	}
	return 0;
}
