/* test-index.c: the index cache: round trip, lookup, corruption. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/index.h"
#include "unit.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

int main(void)
{
	char dir[] = "/tmp/satchel-index-XXXXXX", path[256];
	struct index_entry entries[4] = {
		{ "1700000002.b", 20, "1700000002.b", 0 },
		{ "1700000001.a", 10, "1700000001.a", 1700000500 },
		{ "bad key", 5, "x", 0 },
		{ "c", 30, "0123456789abcdef", 7 },
	};
	const struct index_entry *e;
	struct index *index = NULL;
	const char *error = NULL;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/satchel.index", dir);

	CHECK(index_load(path, &index) == 0, "missing index loads");
	CHECK(index_count(index) == 0 && !index_is_complete(index),
	      "missing index is empty and incomplete");
	index_free(&index);
	CHECK(index == NULL, "index_free sets NULL");

	CHECK(index_write(path, entries, 4, &error) == 0, "index_write");
	CHECK(index_load(path, &index) == 0 && index_is_complete(index),
	      "written index loads complete");
	CHECK(index_count(index) == 3, "entry with a space in the key skipped");
	e = index_lookup(index, "1700000001.a");
	CHECK(e != NULL && e->size == 10 && e->retrieved == 1700000500 &&
		      strcmp(e->uidl, "1700000001.a") == 0,
	      "lookup returns the fields");
	e = index_lookup(index, "c");
	CHECK(e != NULL && strcmp(e->uidl, "0123456789abcdef") == 0,
	      "lookup of a digest UIDL");
	CHECK(index_lookup(index, "nope") == NULL, "lookup of a missing key");
	index_free(&index);

	write_text(path, "satchel-index 1\nb 1 b 0\na 2 a 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 2 &&
		      index_lookup(index, "a") != NULL,
	      "unsorted index is sorted on load");
	index_free(&index);

	write_text(path, "satchel-index 1\na 1 a 0\nb x b 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0 &&
		      !index_is_complete(index),
	      "a bad line invalidates the whole index");
	index_free(&index);

	write_text(path, "satchel-index 1\na 1 a 0\na 2 a 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "duplicate keys invalidate the index");
	index_free(&index);

	write_text(path, "satchel-index 1\na 1 a 0\nb 2 b");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "truncated index is invalid");
	index_free(&index);

	write_text(path, "satchel-index 9\na 1 a 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "other version is invalid");
	index_free(&index);

	write_text(path, "satchel-index 1\na 1 a 0 extra\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "extra field is invalid");
	index_free(&index);

	write_text(path, "satchel-index 1\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0 &&
		      index_is_complete(index),
	      "empty index is complete");
	index_free(&index);

	unlink(path);
	rmdir(dir);
	return unit_done();
}
