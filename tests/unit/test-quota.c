/* test-quota.c: Maildir++ maildirsize (quota.c): from empty, after adds,
 * limits changed, over by bytes and by count, rebuild of a big file, a
 * file in the format other programs write. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/quota.h"
#include "unit.h"

static char root[] = "/tmp/satchel-quota-XXXXXX";
static char md[300], msize[320];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static const char *read_file(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return "(missing)";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static void add_msg(const char *sub, const char *name, const char *body)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", md, sub, name);
	write_file(path, body);
}

/* 1 over, 0 not over, -1 error */
static int over(uint64_t bytes, uint64_t msgs, uint64_t size)
{
	struct quota_limits lim = { bytes, msgs };
	const char *error = NULL;
	bool is_over = false;

	if (quota_check(md, &lim, size, &is_over, &error) < 0) {
		printf("# quota_check: %s\n", error);
		return -1;
	}
	return is_over ? 1 : 0;
}

static void make_maildir(void)
{
	char path[400];
	const char *subs[] = { "", "/new", "/cur", "/tmp" };
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", md, subs[i]);
		mkdir(path, 0700);
	}
}

static void test_basic(void)
{
	struct quota_limits lim = { 1000, 10 };

	CHECK(over(0, 0, 1u << 30) == 0 && access(msize, F_OK) < 0,
	      "no limits: never over, no file made");
	CHECK(over(1000, 10, 100) == 0, "empty Maildir: not over");
	CHECK_STR(read_file(msize), "1000S,10C\n0 0\n",
		  "the file is made from the empty Maildir");
	CHECK(over(1000, 10, 1001) == 1, "one message over the limit alone");

	add_msg("new", "1.a.host,S=300", "x");
	quota_add(md, &lim, 300, 1);
	add_msg("cur", "2.b.host,S=300:2,S", "x");
	quota_add(md, &lim, 300, 1);
	CHECK_STR(read_file(msize), "1000S,10C\n0 0\n300 1\n300 1\n",
		  "each add appends one line");
	CHECK(over(1000, 10, 400) == 0, "600 + 400 = 1000: not over");
	CHECK(over(1000, 10, 401) == 1, "600 + 401 > 1000: over by bytes");
	CHECK(strstr(read_file(msize), "300 1\n300 1\n") != NULL,
	      "a fresh over-quota answer does not rebuild");

	CHECK(over(1000, 3, 1) == 0 &&
	      strncmp(read_file(msize), "1000S,3C\n600 2\n", 15) == 0,
	      "limits changed: rebuilt from the directories");
	quota_add(md, &(struct quota_limits){ 1000, 3 }, 1, 1);
	CHECK(over(1000, 3, 1) == 1, "3 messages, limit 3: over by count");
	CHECK(over(0, 4, 1) == 0 &&
	      strcmp(read_file(msize), "4C\n600 2\n") == 0,
	      "count-only limits line");

	quota_add(md, NULL, -300, -1);
	CHECK(strcmp(read_file(msize), "4C\n600 2\n-300 -1\n") == 0,
	      "quota_add without limits appends to an existing file");
	unlink(msize);
	quota_add(md, NULL, -300, -1);
	quota_add(md, &lim, 300, 1);
	CHECK(access(msize, F_OK) < 0, "quota_add never creates the file");
	quota_add(md, &(struct quota_limits){ 0, 0 }, 300, 1);
	CHECK(access(msize, F_OK) < 0, "quota_add without limits: no-op");
}

static void test_rebuilds(void)
{
	char big[6000];
	size_t n = 0;
	struct stat st;

	/* a message without ,S= is stat'ed; a Maildir++ folder counts */
	add_msg("new", "3.c.host", "0123456789");
	snprintf(big, sizeof(big), "%s/.Sent", md);
	mkdir(big, 0700);
	snprintf(big, sizeof(big), "%s/.Sent/cur", md);
	mkdir(big, 0700);
	add_msg(".Sent/cur", "4.d.host,S=90:2,S", "x");
	add_msg("new", ".hidden", "not a message");
	unlink(msize);
	CHECK(over(2000, 100, 1) == 0 &&
	      strcmp(read_file(msize), "2000S,100C\n700 4\n") == 0,
	      "rebuild: ,S=, stat without it, Maildir++ folders");

	/* over 5120 octets: rebuilt */
	n = (size_t)snprintf(big, sizeof(big), "2000S,100C\n");
	while (n < 5200)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "1 1\n");
	write_file(msize, big);
	CHECK(over(2000, 100, 1) == 0 &&
	      strcmp(read_file(msize), "2000S,100C\n700 4\n") == 0,
	      "file over 5120 octets: rebuilt");

	write_file(msize, "2000S,100C\n700 x\n");
	CHECK(over(2000, 100, 1) == 0 &&
	      strcmp(read_file(msize), "2000S,100C\n700 4\n") == 0,
	      "unparseable line: rebuilt");
	write_file(msize, "2000S,100C\n700 4\n5");
	CHECK(over(2000, 100, 1) == 0 &&
	      strcmp(read_file(msize), "2000S,100C\n700 4\n") == 0,
	      "a line without its LF: rebuilt");

	/* says over, but old: checked by rebuilding (Maildir++) */
	write_file(msize, "2000S,100C\n999999 4\n");
	CHECK(over(2000, 100, 1) == 1, "a fresh file saying over: over");
	{
		struct timespec old[2] = { { time(NULL) - 3600, 0 },
					   { time(NULL) - 3600, 0 } };

		utimensat(AT_FDCWD, msize, old, 0);
	}
	CHECK(over(2000, 100, 1) == 0 && stat(msize, &st) == 0 &&
	      strcmp(read_file(msize), "2000S,100C\n700 4\n") == 0,
	      "an old file saying over: rebuilt, not over");
}

static void test_foreign(void)
{
	/* as Dovecot writes it (limits, its recalculated sum, then one
	 * line per change), and maildrop's blank-padded lines */
	const char *text = "1000000S,1000C\n12345 3\n-100 -1\n"
			   "       500        1\n";

	write_file(msize, text);
	CHECK(over(1000000, 1000, 1000000 - 12745) == 0,
	      "foreign file: 12745 used, exactly at the limit: not over");
	CHECK(over(1000000, 1000, 1000000 - 12745 + 1) == 1,
	      "foreign file: one octet more: over");
	CHECK(strcmp(read_file(msize), text) == 0,
	      "foreign file: read as it is, not rebuilt");
	write_file(msize, "1000C,1000000S\n12345 3\n");
	CHECK(over(1000000, 1000, 1) == 0 &&
	      strcmp(read_file(msize), "1000C,1000000S\n12345 3\n") == 0,
	      "limits in the other order are the same limits");
	write_file(msize, "1000000S,4C\n12345 3\n");
	CHECK(over(1000000, 4, 1) == 0, "foreign file: 3 + 1 of 4: not over");
	CHECK(over(1000000, 3, 1) == 1 &&
	      strncmp(read_file(msize), "1000000S,3C\n", 12) == 0,
	      "other limits: rebuilt with ours");
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md, sizeof(md), "%s/Maildir", root);
	snprintf(msize, sizeof(msize), "%s/maildirsize", md);
	make_maildir();
	test_basic();
	test_rebuilds();
	test_foreign();
	if (unit_failures == 0) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", root);
	}
	return unit_done();
}
