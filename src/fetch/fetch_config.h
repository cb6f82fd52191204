/* fetch_config.h: the accounts file of `satchel fetch -c FILE`: the
 * key = value style of satchel.conf, one section per account:
 *
 *	state_dir = /var/lib/satchel/fetch     (before any section)
 *	parallel = 4
 *
 *	[work]
 *	url = pops://alice@pop.example.com
 *	to = maildir:/home/alice/Maildir
 *	password_file = /home/alice/.config/satchel/work.pass
 *	keep = 30d
 *
 * Every key of an account is a command-line option of the one-shot
 * form without its dashes (satchel(1) FETCH): url, to, keep (yes, no,
 * or Nd), password_file, password_command, cafile, pin, cert, key, tls,
 * allow_plaintext, rcpt, skip_larger, delete_larger, max_messages,
 * max_bytes, ambiguous (redeliver or skip), sdps, preview, skip_header,
 * timeout,
 * session_timeout, accept_new_uidls, match_headers. '#' starts a comment line. */
#ifndef SATCHEL_FETCH_CONFIG_H
#define SATCHEL_FETCH_CONFIG_H

#include <stddef.h>

#include "fetch/fetch.h"

#define FETCH_ACCOUNTS_MAX 1024

struct fetch_config {
	struct fetch_account *accounts;
	size_t count;
	unsigned parallel;          /* accounts fetched at once */
	char **owned;               /* the values the accounts point to */
	size_t nowned, owned_cap;
	char state_dir[4096];
};

/* Reads path into *cfg; defaults (timeout, parallel, the state
 * directory) come from base. 0, or -1 with the reason printed as
 * "FILE:LINE: what" into err. */
int fetch_config_read(const char *path, const struct fetch_account *base,
		      struct fetch_config *cfg, char *err, size_t errsize);
void fetch_config_free(struct fetch_config *cfg);

/* Fetches the accounts named (all when names is empty), at most
 * cfg->parallel at once, each in its own process. Returns the worst
 * exit (fetch_exit_worst). */
int fetch_config_run(struct fetch_config *cfg, char **names, size_t nnames);

/* The exit to report for two accounts' exits: a configuration or
 * login problem outranks a local one, which outranks a server's, which
 * outranks "try later"; 0 only when both are 0. */
int fetch_exit_worst(int a, int b);

#endif
