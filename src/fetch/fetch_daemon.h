/* fetch_daemon.h: `satchel fetch --daemon`: the accounts polled on an
 * interval, with jitter (so many clients started together do not poll
 * together), never more often than a server's LOGIN-DELAY (RFC 2449
 * 6.8) allows: fetch_run records the next allowed login per account
 * in the state directory (NAME.next) and accounts not yet due are
 * left out of a round. SIGTERM or SIGINT ends it between rounds. */
#ifndef SATCHEL_FETCH_DAEMON_H
#define SATCHEL_FETCH_DAEMON_H

#include <stdbool.h>
#include <time.h>

#include "fetch/fetch_config.h"

/* Rounds of fetch_config_run every interval_secs (+-10%) until a
 * signal. Returns the last round's exit. */
int fetch_daemon(struct fetch_config *cfg, char **names, size_t nnames,
		 unsigned interval_secs);

/* Records that the account may log in again at not_before. */
void fetch_daemon_note_delay(const struct fetch_account *a,
			     time_t not_before);
/* May the account log in now? (no record: yes) */
bool fetch_daemon_due(const struct fetch_account *a, time_t now);

#endif
