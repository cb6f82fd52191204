/* fuzz-linereader.c: arbitrary client bytes through the line reader and
 * the command splitter, in arbitrary read sizes. */
#include <stdint.h>
#include <string.h>

#include "net/linereader.h"
#include "serve/cmdparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linereader lr;
	size_t pos = 0;

	linereader_init(&lr, 255);
	while (pos < size) {
		/* The first byte of each round picks the read size. */
		size_t chunk = 1 + data[pos] % 64, room;
		char *dst = linereader_space(&lr, &room);
		char *line;
		size_t len;

		if (dst == NULL)
			break;
		pos++;
		if (chunk > size - pos)
			chunk = size - pos;
		if (chunk > room)
			chunk = room;
		memcpy(dst, data + pos, chunk);
		linereader_added(&lr, chunk);
		pos += chunk;
		for (;;) {
			enum line_status st = linereader_next(&lr, &line, &len);
			struct cmd_args args;

			if (st == LINE_NONE)
				break;
			if (st != LINE_OK)
				continue;
			if (len > 253 || strlen(line) > len)
				__builtin_trap();
			if (cmdparse_verb(line, &args) == 0)
				cmdparse_args(&args, data[0] & 1);
		}
		/* the session releases the buffer between reads */
		linereader_release_if_empty(&lr);
	}
	linereader_deinit(&lr);
	return 0;
}
