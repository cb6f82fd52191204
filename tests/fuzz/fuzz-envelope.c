/* fuzz-envelope.c: arbitrary bytes as the top of a stored message: what
 * envelope_parse keeps must be addresses *ENV can send as reply lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope env;

	envelope_parse((const char *)data, size, &env);
	if (strlen(env.sender) > ENVELOPE_ADDR_MAX ||
	    (env.sender[0] != '\0' && !envelope_addr_valid(env.sender)) ||
	    (!env.have_sender && env.sender[0] != '\0'))
		abort();
	if (env.have_rcpt ? !envelope_addr_valid(env.rcpt)
			  : env.rcpt[0] != '\0')
		abort();
	return 0;
}
