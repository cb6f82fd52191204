/* fuzz-journal.c: the fetch client's journal over arbitrary file
 * contents: every line parses to a valid record or none, and the
 * reader opens any file (what a crash or a hostile hand left), after
 * which an add is found again on the next open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/journal.h"
#include "store/uidl.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static char path[64];

static void remove_files(void)
{
	char lock[80];

	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(path);
	unlink(lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal *j = NULL;
	const char *error, *uidl, *p = (const char *)data, *end = p + size;
	size_t len;
	time_t when;
	FILE *f;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);
		int op = journal_parse_line(p, n, &uidl, &len, &when);

		if (op != 0)
			must(uidl >= p && uidl + len <= p + n &&
			     uidl_is_valid(uidl, len));
		p += n + 1;
	}
	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz-journal.%d", getpid());
		atexit(remove_files);
	}
	f = fopen(path, "w");
	must(f != NULL);
	must(fwrite(data, 1, size, f) == size);
	fclose(f);
	must(journal_open(path, &j, &error) == JOURNAL_OK);
	must(journal_add(j, "fuzz-probe", 10, 1, &error) == 0);
	journal_close(&j);
	must(journal_open(path, &j, &error) == JOURNAL_OK);
	must(journal_has(j, "fuzz-probe", 10, NULL));
	journal_close(&j);
	return 0;
}
