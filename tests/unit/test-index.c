/* test-index.c: the index cache: round trip, lookup, corruption. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
		{ "1700000002.b", 20, "1700000002.b", 0, NULL, 0, 0, 0, 0, 0 },
		{ "1700000001.a", 10, "1700000001.a", 1700000500, NULL, 0, 0, 0, 0, 0 },
		{ "bad key", 5, "x", 0, NULL, 0, 0, 0, 0, 0 },
		{ "c", 30, "0123456789abcdef", 7, NULL, 0, 0, 0, 0, 0 },
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
	{
		/* fileio_replace: mode 0600, no temporary file left */
		struct stat st;
		struct dirent *d;
		DIR *dh = opendir(dir);
		unsigned others = 0;

		while (dh != NULL && (d = readdir(dh)) != NULL)
			others += strstr(d->d_name, ".tmp.") != NULL;
		if (dh != NULL)
			closedir(dh);
		CHECK(others == 0, "index write leaves no temporary file");
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
		      "index file mode 0600");
	}
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

	/* version 3: listing line, where field, "" UIDL = the key, utf8 */
	{
		struct index_entry le[2] = {
			{ "k2", 2, "k2", 0, "c:2,S", 0, 0, 0,
			  INDEX_UTF8_YES, 1234 },
			{ "k1", 1, "uid1", 5, "n", 0, 0, 0, INDEX_UTF8_NO, 0 },
		};
		struct index_listing l = {
			.valid = true, .ino = { 11, 12 },
			.mtime_sec = { 1700000000, 1700000001 },
			.mtime_nsec = { 5, 999999999 },
			.listed_sec = 1700000100, .listed_nsec = 42,
		};
		const struct index_listing *got;

		CHECK(index_write_listing(path, le, 2, &l, &error) == 0,
		      "index_write_listing");
		CHECK(index_load(path, &index) == 0 &&
			      index_is_complete(index) &&
			      index_is_current(index) && index_count(index) == 2,
		      "version 3 loads current");
		got = index_get_listing(index);
		CHECK(got->valid && got->ino[0] == 11 && got->ino[1] == 12 &&
			      got->mtime_sec[1] == 1700000001 &&
			      got->mtime_nsec[1] == 999999999 &&
			      got->mtime_nsec[0] == 5 &&
			      got->listed_sec == 1700000100 &&
			      got->listed_nsec == 42,
		      "listing round trip");
		e = index_entry_at(index, 1);
		CHECK(strcmp(e->key, "k2") == 0 && e->uidl == e->key &&
			      e->key_len == 2 && e->uidl_len == 2 &&
			      e->where_len == 5 &&
			      strcmp(e->where, "c:2,S") == 0,
		      "UIDL equal to the key stored empty, where kept");
		CHECK(e->utf8 == INDEX_UTF8_YES && e->wrap_size == 1234,
		      "utf8: a surrogate size kept");
		e = index_entry_at(index, 0);
		CHECK(strcmp(e->uidl, "uid1") == 0 && e->retrieved == 5 &&
			      strcmp(e->where, "n") == 0,
		      "sorted by key, other UIDL kept");
		CHECK(e->utf8 == INDEX_UTF8_NO, "utf8: ASCII kept");
		index_free(&index);

		/* le is sorted by now: le[0] is k1 */
		le[0].key = "bad key";
		CHECK(index_write_listing(path, le, 2, &l, &error) == 0 &&
			      index_load(path, &index) == 0 &&
			      index_count(index) == 1 &&
			      !index_get_listing(index)->valid,
		      "an entry left out drops the listing");
		index_free(&index);

		le[0].key = "k1";
		l.mtime_sec[0] = -1;
		CHECK(index_write_listing(path, le, 2, &l, &error) == 0 &&
			      index_load(path, &index) == 0 &&
			      index_count(index) == 2 &&
			      !index_get_listing(index)->valid,
		      "a pre-1970 mtime drops the listing");
		index_free(&index);
	}

	write_text(path, "satchel-index 1\na 1 a 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 1 &&
		      index_is_complete(index) && !index_is_current(index) &&
		      !index_get_listing(index)->valid,
	      "version 1 loads, not current (to be rewritten)");
	index_free(&index);

	write_text(path, "satchel-index 2\nlisting 1 2 3\na 1  0 -\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "short listing line is invalid");
	index_free(&index);

	write_text(path, "satchel-index 2\nlisting -\na 1  0 -\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 1 &&
		      !index_is_current(index) &&
		      index_entry_at(index, 0)->where == NULL &&
		      index_entry_at(index, 0)->utf8 == INDEX_UTF8_UNKNOWN,
	      "version 2 loads, not current, utf8 not known");
	index_free(&index);

	write_text(path, "satchel-index 3\nlisting -\na 1  0 - -\n"
			 "b 1  0 - a\nc 1  0 - 77\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 3 &&
		      index_is_current(index) &&
		      index_entry_at(index, 0)->utf8 == INDEX_UTF8_UNKNOWN &&
		      index_entry_at(index, 1)->utf8 == INDEX_UTF8_NO &&
		      index_entry_at(index, 2)->utf8 == INDEX_UTF8_YES &&
		      index_entry_at(index, 2)->wrap_size == 77,
	      "version 3 utf8 field: -, a, size");
	index_free(&index);

	write_text(path, "satchel-index 3\nlisting -\na 1  0 - 0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "utf8 size 0 is invalid");
	index_free(&index);

	write_text(path, "satchel-index 3\nlisting -\na 1  0 - x\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "utf8 field of another letter is invalid");
	index_free(&index);

	write_text(path, "satchel-index 3\nlisting -\na 1  0 -\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "version 3 line without utf8 is invalid");
	index_free(&index);

	write_text(path, "satchel-index 2\nlisting -\na 1  0\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "version 2 line without where is invalid");
	index_free(&index);

	write_text(path, "satchel-index 2\na 1  0 -\n");
	CHECK(index_load(path, &index) == 0 && index_count(index) == 0,
	      "version 2 without the listing line is invalid");
	index_free(&index);

	unlink(path);
	rmdir(dir);
	return unit_done();
}
