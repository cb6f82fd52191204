/* fuzz-mbox.c: arbitrary bytes as an mbox file: open (scan, UIDLs), read
 * every message, close without changes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/satchel-fuzz-mbox-XXXXXX";
	static int ready;
	struct maildrop_settings set = { .kind = MAILDROP_MBOX,
					 .lock_stale_secs = 300 };
	struct maildrop *drop;
	const char *error;
	char path[64];
	FILE *f;

	if (!ready && mkdtemp(dir) == NULL)
		return 0;
	ready = 1;
	snprintf(path, sizeof(path), "%s/mbox", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	set.path = path;
	if (maildrop_open(&set, &drop, &error) != MAILDROP_OK)
		return 0;
	for (unsigned i = 0; i < maildrop_count(drop); i++) {
		struct maildrop_reader *reader;
		char buf[4096];

		if (maildrop_reader_open(drop, i, &reader, &error) != 0)
			continue;
		while (maildrop_reader_read(reader, buf, sizeof(buf)) > 0)
			;
		maildrop_reader_destroy(&reader);
	}
	maildrop_close(&drop);
	return 0;
}
