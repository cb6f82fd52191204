/* test-maildrop_utf8.c: which messages need UTF-8 mode, found once and
 * kept in the Maildir's index (maildrop_settings.scan_utf8). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildrop.h"
#include "unit.h"

static char root[] = "/tmp/satchel-mdutf8-XXXXXX";
static char md_path[512], index_path[600];

static const char ascii_msg[] =
	"From: a@example.org\nSubject: plain\n\nbody \xc3\xa9 is fine\n";
static const char utf8_msg[] =
	"From: a@example.org\nSubject: caf\xc3\xa9\n\nbody\n";

static void put(const char *sub, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", md_path, sub, name);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static struct maildrop *open_drop(bool scan)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = md_path,
		.lock_stale_secs = 300, .create = true, .scan_utf8 = scan,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;

	if (maildrop_open(&set, &drop, &error) != MAILDROP_OK)
		return NULL;
	return drop;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* mbox: the same answers in its sidecar index, keyed by UIDL */
static void test_mbox(void)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MBOX, .lock_stale_secs = 300,
		.scan_utf8 = true,
	};
	struct maildrop *drop = NULL;
	const char *error = NULL;
	char mbox[600], sidecar[640], *text;

	snprintf(mbox, sizeof(mbox), "%s/inbox", root);
	snprintf(sidecar, sizeof(sidecar), "%s.satchel-index", mbox);
	set.path = mbox;
	{
		char all[512];

		snprintf(all, sizeof(all),
			 "From a@example.org Thu Jan  1 00:00:00 2026\n%s\n"
			 "From a@example.org Thu Jan  1 00:00:00 2026\n%s",
			 ascii_msg, utf8_msg);
		spit(mbox, all);
	}
	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK &&
		      maildrop_msg(drop, 0)->utf8 == MAILDROP_UTF8_NO &&
		      maildrop_msg(drop, 1)->utf8 == MAILDROP_UTF8_YES,
	      "mbox: the answers");
	maildrop_close(&drop);
	text = slurp(sidecar);
	CHECK(text != NULL && strstr(text, " a\n") != NULL,
	      "mbox: recorded at open");
	if (text != NULL) {
		/* the YES entry's utf8 field (the last line that does not
		 * end in " a"): a surrogate size no scan gives */
		static char out[65536];
		char *line = strchr(text, '\n'), *o = out;

		while (line != NULL && line[1] != '\0') {
			char *start = line + 1, *lf = strchr(start, '\n');
			char *sp = lf != NULL ? memrchr(start, ' ', (size_t)(lf - start)) : NULL;

			if (sp != NULL && strncmp(sp, " a\n", 3) != 0 &&
			    strncmp(start, "listing", 7) != 0) {
				memcpy(o, text, (size_t)(sp - text));
				o += sp - text;
				o += sprintf(o, " 99");
				strcpy(o, lf);
				spit(sidecar, out);
				break;
			}
			line = lf;
		}
	}
	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK &&
		      maildrop_msg(drop, 1)->wrap_size == 99,
	      "mbox: a warm open takes them from the sidecar");
	maildrop_close(&drop);
}

int main(void)
{
	struct maildrop *drop;
	char *text, *p;
	uint64_t wrap;

	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md_path, sizeof(md_path), "%s/Maildir", root);
	snprintf(index_path, sizeof(index_path), "%s/satchel.index", md_path);
	drop = open_drop(false);
	maildrop_close(&drop);
	put("new", "1700000001.a", ascii_msg);
	put("new", "1700000002.b", utf8_msg);

	drop = open_drop(false);
	CHECK(drop != NULL && maildrop_count(drop) == 2 &&
		      maildrop_msg(drop, 0)->utf8 == MAILDROP_UTF8_UNKNOWN,
	      "not asked: not known");
	maildrop_close(&drop);
	text = slurp(index_path);
	CHECK(text != NULL && strstr(text, "1700000001.a 56  0 n -\n"),
	      "not asked: index says - (not known)");

	drop = open_drop(true);
	CHECK(drop != NULL &&
		      maildrop_msg(drop, 0)->utf8 == MAILDROP_UTF8_NO &&
		      maildrop_msg(drop, 1)->utf8 == MAILDROP_UTF8_YES &&
		      maildrop_msg(drop, 1)->wrap_size >
			      maildrop_msg(drop, 1)->size,
	      "asked: 8-bit body is ASCII mode, 8-bit Subject needs UTF-8");
	wrap = drop != NULL ? maildrop_msg(drop, 1)->wrap_size : 0;
	maildrop_close(&drop);
	text = slurp(index_path);
	{
		char want[64];

		snprintf(want, sizeof(want), "1700000002.b 45  0 n %llu\n",
			 (unsigned long long)wrap);
		CHECK(text != NULL && strstr(text, "1700000001.a 56  0 n a\n") &&
			      strstr(text, want),
		      "the answers are in the index after open");
	}

	/* the next open takes them from the index without reading the
	 * message: a recorded size that no scan could give proves it */
	text = slurp(index_path);
	p = text != NULL ? strstr(text, "1700000002.b 45  0 n ") : NULL;
	if (p != NULL) {
		static char out[65536 + 64];

		memcpy(out, text, (size_t)(p - text));
		out[p - text] = '\0';
		strcat(out, "1700000002.b 45  0 n 99");
		strcat(out, strchr(p, '\n'));
		spit(index_path, out);
	}
	drop = open_drop(true);
	CHECK(drop != NULL && maildrop_msg(drop, 1)->wrap_size == 99,
	      "a warm open reads no message for it");
	maildrop_close(&drop);

	/* a session that does not ask keeps what is known */
	drop = open_drop(false);
	CHECK(drop != NULL && maildrop_msg(drop, 1)->utf8 == MAILDROP_UTF8_YES,
	      "known answers come along unasked");
	{
		unsigned deleted;
		const char *error;

		CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK,
		      "commit");
	}
	text = slurp(index_path);
	CHECK(text != NULL && strstr(text, "1700000002.b 45  0 n 99\n") &&
		      strstr(text, "1700000001.a 56  0 n a\n"),
	      "an index write keeps them");

	test_mbox();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return unit_done();
}
