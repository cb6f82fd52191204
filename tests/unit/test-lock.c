/* test-lock.c: session lock files (IN-USE, refresh, stale recovery) and
 * the mbox dotlock. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/lock.h"
#include "unit.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

int main(void)
{
	char dir[] = "/tmp/satchel-lock-XXXXXX", path[256], text[512];
	char host[256], mbox[256], dotlock[300];
	struct lock_file *a = NULL, *b = NULL;
	struct lock_mbox *ml = NULL, *ml2 = NULL;
	const char *error = NULL;
	struct timespec old[2];
	struct stat st;
	time_t t0;
	int fd;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/satchel.lock", dir);
	gethostname(host, sizeof(host));

	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_OK,
	      "take a free lock");
	CHECK(stat(path, &st) == 0 && st.st_size > 0, "lock file has content");
	error = NULL;
	CHECK(lock_file_take(path, 60, &b, &error) == MAILDROP_IN_USE,
	      "second take: IN-USE (same pid, alive)");
	/* issue 7: the log said "(null)" for exactly this case */
	CHECK(error != NULL && error[0] != '\0', "IN-USE says why");
	CHECK(lock_file_refresh(a) == 0, "refresh a held lock");

	/* make it look old: the next taker judges it stale */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 120;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	utimensat(AT_FDCWD, path, old, 0);
	CHECK(lock_file_take(path, 60, &b, &error) == MAILDROP_OK,
	      "stale (mtime) lock is taken over");
	CHECK(lock_file_refresh(a) < 0, "old holder sees the lock lost");
	lock_file_release(&a);
	CHECK(a == NULL && access(path, F_OK) == 0,
	      "old holder's release leaves the new lock alone");
	lock_file_release(&b);
	CHECK(access(path, F_OK) < 0, "release removes the lock");

	snprintf(text, sizeof(text), "%s %ld %lld\n", host, (long)dead_pid(),
		 (long long)time(NULL));
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_OK,
	      "lock of a dead pid on this host is stale");
	lock_file_release(&a);

	snprintf(text, sizeof(text), "other-host.example %ld %lld\n",
		 (long)dead_pid(), (long long)time(NULL));
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_IN_USE,
	      "fresh lock of another host is respected");
	write_text(path, "garbage");
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_IN_USE,
	      "fresh unparsable lock is respected");
	unlink(path);

	/* mbox dotlock + fcntl */
	snprintf(mbox, sizeof(mbox), "%s/mbox", dir);
	snprintf(dotlock, sizeof(dotlock), "%s.lock", mbox);
	write_text(mbox, "");
	fd = open(mbox, O_RDWR);
	CHECK(lock_mbox_take(mbox, fd, &ml, &error) == MAILDROP_OK,
	      "mbox lock taken");
	CHECK(stat(dotlock, &st) == 0 && st.st_size > 0,
	      "dotlock exists while held, with its owner line (made by a "
	      "link, never empty: a kill cannot leave an unjudgeable one)");
	t0 = time(NULL);
	CHECK(lock_mbox_take(mbox, -1, &ml2, &error) == MAILDROP_IN_USE,
	      "held dotlock: IN-USE");
	CHECK(time(NULL) - t0 <= 4, "dotlock wait is bounded");
	lock_mbox_release(&ml);
	CHECK(ml == NULL && access(dotlock, F_OK) < 0,
	      "release removes the dotlock");

	/* a fresh dotlock of ours whose process is gone (a delivery
	 * killed inside a locking round) is broken at once; a bare dead
	 * pid, as other MDAs write, proves nothing while it is fresh */
	{
		char owner[400];
		pid_t dead = fork();

		if (dead == 0)
			_exit(0);
		waitpid(dead, NULL, 0);
		snprintf(owner, sizeof(owner), "%s %ld 0\n", host,
			 (long)dead);
		write_text(dotlock, owner);
		CHECK(lock_mbox_take(mbox, fd, &ml, &error) == MAILDROP_OK,
		      "dotlock of a dead process of this host is broken");
		lock_mbox_release(&ml);
		snprintf(owner, sizeof(owner), "%ld\n", (long)dead);
		write_text(dotlock, owner);
		CHECK(lock_mbox_take(mbox, fd, &ml, &error) ==
		      MAILDROP_IN_USE, "fresh bare-pid dotlock is respected");
		unlink(dotlock);
	}

	write_text(dotlock, "1\n");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	utimensat(AT_FDCWD, dotlock, old, 0);
	CHECK(lock_mbox_take(mbox, fd, &ml, &error) == MAILDROP_OK,
	      "stale dotlock is broken");
	lock_mbox_release(&ml);
	close(fd);

	unlink(mbox);
	/* the locks' temporary files ("<path>.<pid>.<n>.new") are gone */
	CHECK(rmdir(dir) == 0, "nothing left in the directory");
	return unit_done();
}
