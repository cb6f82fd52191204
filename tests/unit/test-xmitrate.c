/* test-xmitrate.c: the XTND XMIT count per user and hour is one table
 * for every process that shares it (a worker forks from the master with
 * it mapped), and per_hour 0 is no limit. */
#include <sys/wait.h>
#include <unistd.h>

#include "serve/xmitrate.h"
#include "unit.h"

int main(void)
{
	struct xmitrate *rate = xmitrate_create();
	pid_t pid;
	int status = -1;

	CHECK(rate != NULL, "table made");
	if (rate == NULL)
		return unit_done();
	CHECK(xmitrate_take(rate, "alice", 3) && xmitrate_take(rate, "alice", 3),
	      "two of three");
	pid = fork();
	if (pid == 0)
		_exit(xmitrate_take(rate, "alice", 3) ? 0 : 1);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the third in another process");
	CHECK(!xmitrate_take(rate, "alice", 3),
	      "the fourth refused: the other process's counted");
	CHECK(xmitrate_take(rate, "bob", 3), "another user has his own");
	CHECK(xmitrate_take(rate, "alice", 0), "per_hour 0: no limit");
	return unit_done();
}
