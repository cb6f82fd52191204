/* test-maildir_cache.c: the worker's warm snapshots (maildir_cache.c):
 * parked only within the budget and from sessions that changed nothing,
 * taken back only by the same Maildir, the least recently used evicted
 * when the table is full. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_private.h"
#include "unit.h"

#define FILES 1001 /* MAILDIR_CACHE_MIN_FILES, and one to delete */
#define DIRS 17    /* one more than the table holds */

static char root[] = "/tmp/satchel-mdcache-XXXXXX";

/* new/ and cur/ quiet long enough for the listing rule to trust a
 * listing of them */
static void age(const char *path)
{
	static const char *const subs[] = { "/new", "/cur" };
	const struct timespec old[2] = { { 1700000000, 0 },
					 { 1700000000, 0 } };
	char p[256];
	size_t i;

	for (i = 0; i < 2; i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, subs[i]) >=
			    sizeof(p) ||
		    utimensat(AT_FDCWD, p, old, 0) < 0)
			abort();
	}
}

static void make_maildir(const char *path, unsigned files)
{
	static const char *const subs[] = { "", "/new", "/cur", "/tmp" };
	char p[256];
	size_t i;

	for (i = 0; i < 4; i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, subs[i]) >=
			    sizeof(p) ||
		    mkdir(p, 0700) < 0)
			abort();
	}
	for (i = 0; i < files; i++) {
		int fd;

		if ((size_t)snprintf(p, sizeof(p), "%s/new/%zu.M%zuP1.host",
				     path, 1700000000 + i, i) >= sizeof(p))
			abort();
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, "Subject: x\n\nbody\n", 17) != 17)
			abort();
		close(fd);
	}
	age(path);
}

static char *maildir_path(unsigned n)
{
	static char paths[DIRS][128];

	snprintf(paths[n], sizeof(paths[n]), "%s/m%u", root, n);
	return paths[n];
}

/* A session that only looks: open and close. */
static int look(unsigned n)
{
	struct maildrop_settings set = { .kind = MAILDROP_MAILDIR,
					 .path = maildir_path(n) };
	struct maildrop *drop;
	const char *error;
	int ret = maildrop_open(&set, &drop, &error);

	if (ret == MAILDROP_OK)
		maildrop_close(&drop);
	return ret;
}

/* Takes a parked snapshot out and frees it: true when there was one. */
static bool parked(unsigned n)
{
	struct maildir *md = maildir_cache_take(maildir_path(n));

	if (md == NULL)
		return false;
	maildir_destroy(md);
	return true;
}

int main(void)
{
	struct maildrop_settings set = { .kind = MAILDROP_MAILDIR };
	struct maildrop *drop;
	const char *error;
	unsigned deleted, n;
	bool all;

	if (mkdtemp(root) == NULL)
		abort();
	for (n = 0; n < DIRS; n++)
		make_maildir(maildir_path(n), FILES);

	CHECK(look(0) == MAILDROP_OK && !parked(0),
	      "no budget (the default): nothing parked");

	maildrop_cache_set_budget(1);
	CHECK(look(0) == MAILDROP_OK && !parked(0),
	      "a snapshot larger than the budget is not parked");

	maildrop_cache_set_budget(1ULL << 32);
	CHECK(look(1) == MAILDROP_OK && !parked(2) && parked(1),
	      "parked under its own path only, and taken out by take");
	CHECK(!parked(1), "a taken snapshot is no longer parked");

	/* a session that deleted a message changed the directories */
	set.path = maildir_path(3);
	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK,
	      "open for a deletion");
	maildrop_msg(drop, 0)->deleted = true;
	CHECK(maildrop_commit(&drop, &deleted, &error) == MAILDROP_OK &&
	      deleted == 1, "commit deletes one");
	CHECK(!parked(3), "a session that deleted is not parked");
	age(maildir_path(3));

	/* one more Maildir than the table has slots: the first one goes */
	all = true;
	for (n = 0; n < DIRS; n++)
		all = all && look(n) == MAILDROP_OK;
	CHECK(all, "17 sessions");
	CHECK(!parked(0), "the least recently used was evicted");
	all = true;
	for (n = 1; n < DIRS; n++)
		all = all && parked(n);
	CHECK(all, "the 16 most recent are parked");

	/* a reused snapshot comes back with the marks cleared */
	CHECK(look(5) == MAILDROP_OK, "park one again");
	set.path = maildir_path(5);
	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK &&
	      maildrop_count(drop) == FILES, "reopen: all messages");
	maildrop_msg(drop, 7)->deleted = true;
	maildrop_close(&drop);
	CHECK(maildrop_open(&set, &drop, &error) == MAILDROP_OK &&
	      !maildrop_msg(drop, 7)->deleted,
	      "a mark of a session closed without commit is not carried");
	maildrop_close(&drop);
	(void)parked(5);

	maildrop_cache_set_budget(0);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	return unit_done();
}
