/* fuzz-index.c: arbitrary bytes as a satchel.index file: load, look every
 * entry up both ways, write the entries back and load that (a file we
 * wrote must load whole). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/index.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

/* on tmpfs when there is one: the store fsyncs, which tmpfs makes free */
static char dir[] = "/dev/shm/satchel-fuzz-index-XXXXXX";

static char *make_dir(void)
{
	if (mkdtemp(dir) != NULL)
		return dir;
	memcpy(dir, "/tmp/", 5);
	memmove(dir + 5, dir + 9, strlen(dir + 9) + 1);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	return mkdtemp(dir);
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, size, f) != size) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct index *index = NULL, *again = NULL;
	struct index_entry *copy;
	char path[64], path2[64];
	const char *error;
	size_t n, hint = 0;

	if (!ready && make_dir() == NULL)
		return 0;
	ready = 1;
	snprintf(path, sizeof(path), "%s/satchel.index", dir);
	snprintf(path2, sizeof(path2), "%s/rewritten.index", dir);
	if (write_file(path, data, size) < 0 || index_load(path, &index) < 0)
		return 0;
	n = index_count(index);
	copy = calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; i < n; i++) {
		const struct index_entry *e = index_entry_at(index, i);
		const struct index_entry *found;

		must(index_key_is_valid(e->key));
		must(strlen(e->key) == e->key_len);
		must(strlen(e->uidl) == e->uidl_len);
		found = index_lookup(index, e->key);
		must(found != NULL && strcmp(found->key, e->key) == 0);
		found = index_lookup_next(index, e->key, e->key_len, &hint);
		must(found != NULL && strcmp(found->key, e->key) == 0);
		if (copy != NULL)
			copy[i] = *e;
	}
	if (copy != NULL && n > 0 &&
	    index_write_listing(path2, copy, n, index_get_listing(index),
				&error) == 0 &&
	    index_load(path2, &again) == 0) {
		must(index_is_complete(again));
		index_free(&again);
	}
	free(copy);
	index_free(&index);
	return 0;
}
