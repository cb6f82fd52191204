/* fuzz-utf8wrap.c: the surrogate of any message (store/utf8wrap.h): as
 * long as utf8wrap_total() said, ASCII lines ending in CRLF, none
 * starting with "." (so RETR's stuffing and LIST size agree). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/msgconv.h"
#include "store/utf8wrap.h"

struct fuzz_mem {
	const uint8_t *data;
	size_t len, pos, chunk;
};

static ssize_t fuzz_read(void *ctx, char *buf, size_t size)
{
	struct fuzz_mem *m = ctx;
	size_t n = m->len - m->pos;

	if (n > size)
		n = size;
	if (n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_mem m;
	struct msgsize ms;
	struct utf8wrap *w;
	const char *error;
	char buf[97];
	uint64_t total = 0, want;
	bool line_start = true, prev_cr = false;
	ssize_t got;

	if (size < 1)
		return 0;
	m = (struct fuzz_mem){ data + 1, size - 1, 0, 1 + data[0] % 61 };
	msgsize_init(&ms);
	msgsize_feed(&ms, (const char *)data + 1, size - 1);
	if (utf8wrap_open(fuzz_read, &m, &w, &error) < 0)
		return 0;
	want = utf8wrap_total(w, msgsize_finish(&ms));
	while ((got = utf8wrap_read(w, buf, 1 + data[0] % sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			unsigned char c = (unsigned char)buf[i];

			if (c >= 0x80 || c == 0 || (line_start && c == '.') ||
			    (c == '\n' && !prev_cr))
				__builtin_trap();
			line_start = c == '\n';
			prev_cr = c == '\r';
		}
		total += (uint64_t)got;
	}
	utf8wrap_destroy(&w);
	if (got < 0 || total != want || !line_start)
		__builtin_trap();
	return 0;
}
