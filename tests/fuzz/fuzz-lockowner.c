/* fuzz-lockowner.c: the owner line of a lock file is read from a shared
 * store that other hosts write: the parser never reads past the NUL,
 * every field it gives is a NUL-terminated string within its buffer, a
 * pid it accepts is >= 2, and a line it formats parses back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/lockowner.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lock_owner owner, again;
	char *text, line[LOCKOWNER_LINE_MAX];
	int len;

	text = malloc(size + 1);
	must(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (lockowner_parse(text, &owner) == 0) {
		must(owner.pid >= 2);
		must(strlen(owner.node) < sizeof(owner.node));
		must(strlen(owner.boot) < sizeof(owner.boot));
		must(strlen(owner.instance) < sizeof(owner.instance));
		must(strlen(owner.token) < sizeof(owner.token));
		len = lockowner_format(&owner, line, sizeof(line));
		must(len > 0);
		must(lockowner_parse(line, &again) == 0);
		must(strcmp(again.node, owner.node) == 0 &&
		     strcmp(again.token, owner.token) == 0 &&
		     again.pid == owner.pid);
	}
	free(text);
	return 0;
}
