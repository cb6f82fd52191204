/* fuzz-pop3reply.c: the fetch client's reply parsers over arbitrary
 * server bytes: a status line parses without reading past it and its
 * code is a printable, bounded string; a body decodes the same whether
 * it comes whole or in pieces (the first input octet picks the piece
 * size), never writes more than it may, and stops where it says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/pop3reply.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static size_t decode(const char *in, size_t len, size_t piece, char *out,
		     bool *done_r)
{
	struct pop3_body b;
	size_t used = 0, o = 0;

	pop3_body_init(&b);
	while (used < len && !b.done) {
		size_t n = len - used < piece ? len - used : piece, out_len;
		size_t took = pop3_body_decode(&b, in + used, n, out + o,
					       &out_len);

		must(took <= n && out_len <= n + 2);
		must(took == n || b.done);
		o += out_len;
		used += took;
	}
	must(b.octets == o);
	*done_r = b.done;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_status st;
	char *copy, *whole, *pieces;
	size_t piece, a, b;
	bool done_a, done_b;

	if (size == 0)
		return 0;
	piece = (size_t)data[0] % 17 + 1;
	copy = malloc(size);
	whole = malloc(2 * size + 4);
	pieces = malloc(2 * size + 4);
	must(copy != NULL && whole != NULL && pieces != NULL);
	memcpy(copy, data, size);
	pop3_status_parse(copy, size, &st);
	must(strlen(st.code) <= POP3_RESP_CODE_MAX);
	must(st.text >= copy && st.text + st.text_len <= copy + size);
	a = decode(copy + 1, size - 1, size, whole, &done_a);
	b = decode(copy + 1, size - 1, piece, pieces, &done_b);
	must(a == b && done_a == done_b && memcmp(whole, pieces, a) == 0);
	free(copy);
	free(whole);
	free(pieces);
	return 0;
}
