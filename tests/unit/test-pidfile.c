/* test-pidfile.c: the pid file (pidfile.c): made whole and locked, a
 * second maker refused with the holder's pid (from another process, as
 * flock locks are per open file), a stale file taken over, removal, and
 * what readers see. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/pidfile.h"
#include "unit.h"

static char root[] = "/tmp/satchel-pidfile-XXXXXX";

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* In a child: what pidfile_create says about path, as an exit status
 * (0 OK, 1 RUNNING with the parent's pid, 2 anything else). */
static int create_in_child(const char *path)
{
	pid_t parent = getpid(), child = fork();
	int status = 0;

	if (child == 0) {
		struct pidfile pf;
		char err[256];
		pid_t holder;
		enum pidfile_result r = pidfile_create(path, &pf, &holder, err,
						       sizeof(err));

		if (r == PIDFILE_OK)
			_exit(0);
		_exit(r == PIDFILE_RUNNING && holder == parent ? 1 : 2);
	}
	if (child < 0 || waitpid(child, &status, 0) != child ||
	    !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	char path[256], err[256], text[32];
	struct pidfile pf;
	pid_t pid = 0;

	if (mkdtemp(root) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/satchel.pid", root);
	CHECK(pidfile_read(path, &pid, err, sizeof(err)) == PIDFILE_ERROR &&
		      strstr(err, "No such file") != NULL,
	      "no file: an error naming it");
	CHECK(pidfile_create(path, &pf, &pid, err, sizeof(err)) == PIDFILE_OK,
	      "made");
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	{
		char buf[64] = "";
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) == NULL)
				buf[0] = '\0';
			fclose(f);
		}
		CHECK_STR(buf, text, "it holds our pid and a newline");
	}
	CHECK(pidfile_locked(path), "locked");
	CHECK(pidfile_read(path, &pid, err, sizeof(err)) == PIDFILE_OK &&
		      pid == getpid(),
	      "a reader gets our pid");
	CHECK(create_in_child(path) == 1,
	      "a second instance is refused with our pid");
	{
		char tmp[300];

		snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
		CHECK(access(tmp, F_OK) < 0, "no temporary file left");
	}
	pidfile_remove(&pf);
	CHECK(access(path, F_OK) < 0, "removed");
	CHECK(!pidfile_locked(path), "not locked once removed");
	pidfile_remove(&pf); /* twice: nothing happens */

	write_text(path, "999999\n");
	CHECK(pidfile_read(path, &pid, err, sizeof(err)) == PIDFILE_ERROR &&
		      strstr(err, "not locked") != NULL,
	      "a stale file: readers are told its process is gone");
	CHECK(create_in_child(path) == 0, "a stale file is taken over");
	CHECK(pidfile_create(path, &pf, &pid, err, sizeof(err)) == PIDFILE_OK,
	      "and again (the child's lock went with it)");
	pidfile_remove(&pf);

	CHECK(pidfile_create("/nonexistent-dir/x.pid", &pf, &pid, err,
			     sizeof(err)) == PIDFILE_ERROR &&
		      strstr(err, "/nonexistent-dir/x.pid") != NULL,
	      "an unwritable directory: the error names the path");
	rmdir(root);
	return unit_done();
}
