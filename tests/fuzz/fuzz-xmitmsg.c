/* fuzz-xmitmsg.c: XTND XMIT's header reading (serve/xmit_msg.h) on any
 * bytes: the message parse (the copy never grows, every address kept is
 * valid), one address list, and SMTP reply lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/xmit_msg.h"

static struct xmit_addrs from, rcpts, list;

static void check_addrs(const struct xmit_addrs *a)
{
	if (a->count > XMIT_RCPT_MAX)
		__builtin_trap();
	for (unsigned i = 0; i < a->count; i++) {
		if (!xmit_addr_valid(a->addr[i]))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data, *error = NULL;
	char *out = malloc(size + 1);
	size_t out_len = 0;
	unsigned code;
	bool more;

	if (out == NULL)
		return 0;
	if (xmit_msg_parse(msg, size, &from, &rcpts, out, &out_len,
			   &error) == 0) {
		if (out_len > size)
			__builtin_trap();
		check_addrs(&from);
		check_addrs(&rcpts);
	} else if (error == NULL) {
		__builtin_trap();
	}
	list.count = 0;
	if (xmit_addr_list(msg, size, &list, &error) == 0)
		check_addrs(&list);
	if (xmit_smtp_reply_line(msg, size < 600 ? size : 600, &code,
				 &more) == 0 && (code < 200 || code > 599))
		__builtin_trap();
	free(out);
	return 0;
}
