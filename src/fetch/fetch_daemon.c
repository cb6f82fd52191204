/* fetch_daemon.c: polling on an interval (fetch_daemon.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fetch/fetch_daemon.h"
#include "fetch/fetch_run_private.h"
#include "util/fileio.h"
#include "util/strnum.h"

static volatile sig_atomic_t fetch_daemon_stop;

static void fetch_daemon_signal(int sig)
{
	fetch_daemon_stop = 1;
}

/* NAME.next beside the journal. */
static int fetch_daemon_path(const struct fetch_account *a, char *out,
			     size_t size)
{
	size_t len;

	if (fetch_state_path(a, out, size) < 0)
		return -1;
	len = strlen(out) - strlen(".journal");
	if (len + sizeof(".next") > size)
		return -1;
	memcpy(out + len, ".next", sizeof(".next"));
	return 0;
}

void fetch_daemon_note_delay(const struct fetch_account *a,
			     time_t not_before)
{
	char path[4096], text[32];
	const char *why;
	int n;

	if (a->state_dir == NULL ||
	    fetch_daemon_path(a, path, sizeof(path)) < 0)
		return;
	n = snprintf(text, sizeof(text), "%lld\n", (long long)not_before);
	if (fileio_replace(path, text, (size_t)n, 0600, &why) < 0)
		fprintf(stderr, "fetch: %s: cannot record LOGIN-DELAY: %s\n",
			a->name, why);
}

bool fetch_daemon_due(const struct fetch_account *a, time_t now)
{
	char path[4096], text[32];
	uint64_t when;
	FILE *f;

	if (a->state_dir == NULL ||
	    fetch_daemon_path(a, path, sizeof(path)) < 0)
		return true;
	f = fopen(path, "re");
	if (f == NULL)
		return true;
	if (fgets(text, sizeof(text), f) == NULL)
		text[0] = '\0';
	fclose(f);
	text[strcspn(text, "\n")] = '\0';
	return strnum_parse_u64(text, UINT64_MAX / 2, &when) < 0 ||
	       (uint64_t)now >= when;
}

/* interval +-10%, so that clients started together spread out */
static unsigned fetch_daemon_jitter(unsigned interval)
{
	unsigned r = 0, span = interval / 5;

	if (span == 0)
		return interval;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)getpid();
	return interval - span / 2 + r % (span + 1);
}

int fetch_daemon(struct fetch_config *cfg, char **names, size_t nnames,
		 unsigned interval_secs)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fetch_daemon_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!fetch_daemon_stop) {
		unsigned left;

		/* each round logs its own failures */
		(void)fetch_config_run(cfg, names, nnames);
		left = fetch_daemon_jitter(interval_secs);
		/* sleep() returns early on the signal */
		while (left > 0 && !fetch_daemon_stop)
			left = sleep(left);
	}
	/* stopped as asked: a non-zero exit after SIGTERM would make
	 * systemd count the stop as a failure */
	return FETCH_EXIT_OK;
}
