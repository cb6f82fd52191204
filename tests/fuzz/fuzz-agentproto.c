/* fuzz-agentproto.c: arbitrary messages on a mail agent's socket (store/
 * agent_proto.c), checked as the agent checks a worker's requests and as
 * the worker checks an agent's replies; what passes must be safe to use:
 * a FLAGS run lies inside the snapshot it is applied to, every string
 * ends inside its field, every UIDL is RFC 1939's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/agent_proto.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the receive buffers, as big as the largest message, aligned */
	static union {
		struct agent_hdr hdr;
		struct agent_flags flags;
		struct agent_msgs msgs;
		struct agent_result result;
	} rx;
	static struct maildrop_msg msgs[64];
	uint32_t type, count;
	size_t n;

	/* the real length may exceed the buffer (MSG_TRUNC): a leading
	 * 0xff stretches it; the next octet is the snapshot's size */
	n = size;
	if (size >= 2 && data[0] == 0xff)
		n = size + ((size_t)data[1] << 8);
	count = size >= 3 ? data[2] % 65 : 0;
	memset(&rx, 0, sizeof(rx));
	memcpy(&rx, data, size < sizeof(rx) ? size : sizeof(rx));
	type = n <= sizeof(rx.flags) ? agent_proto_check_request(&rx, n) : 0;
	if (type != 0) {
		must(n == agent_proto_len(&rx.hdr));
		must(type == AGENT_REQ_OPEN || type == AGENT_REQ_READER ||
		     type == AGENT_REQ_FLAGS || type == AGENT_REQ_COMMIT);
	}
	if (type == AGENT_REQ_FLAGS) {
		must(rx.flags.n <= AGENT_FLAGS_BATCH);
		if (agent_proto_apply_flags(&rx.flags, msgs, count) == 0)
			must(rx.flags.first + rx.flags.n <= count);
	}
	for (uint32_t want = AGENT_REP_OPENED; want <= AGENT_REP_COMMITTED;
	     want++) {
		memset(&rx, 0, sizeof(rx));
		memcpy(&rx, data, size < sizeof(rx) ? size : sizeof(rx));
		if (n > sizeof(rx) ||
		    !agent_proto_check_reply(&rx, n, want, 0, count))
			continue;
		if (want != AGENT_REP_MSGS) {
			must(memchr(rx.result.error, '\0',
				    sizeof(rx.result.error)) != NULL);
			continue;
		}
		must(rx.msgs.n >= 1 && rx.msgs.n <= count);
		for (uint32_t i = 0; i < rx.msgs.n; i++) {
			size_t len = strlen(rx.msgs.e[i].uidl);

			must(len >= 1 && len <= MAILDROP_UIDL_MAX);
		}
	}
	return 0;
}
