/* fuzz-passwd.c: hostile passwd-file lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct passwd_entry entry;
	const char *error;
	char *line = malloc(size + 1);

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	(void)passwd_parse_line(line, &entry, &error);
	free(line);
	return 0;
}
