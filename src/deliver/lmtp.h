/* lmtp.h: the LMTP front end (RFC 2033) and satchel deliver (the LDA). */
#ifndef SATCHEL_LMTP_H
#define SATCHEL_LMTP_H

#include "config/worker_setup.h"

/* An LMTP worker started by `satchel serve`: one event loop over the
 * lmtp_listen sockets; user lookups through the auth process; store
 * work on a job pool. Runs until SIGTERM, or drained after SIGUSR1. */
lmtp_worker_run_fn lmtp_worker_run;

/* `satchel lmtp --stdio [-c FILE] [-o key=value]`: one LMTP session on
 * stdin/stdout (Exim command=, swaks --pipe). Sysexits status. */
int lmtp_main(int argc, char **argv);

/* `satchel deliver [-c FILE] [-f SENDER] [-a ORIGINAL_RCPT]
 * [-r FINAL_RCPT] -d USER < message`: exit 0, 67, 75, 77 or 64 (see
 * satchel.1). */
int deliver_main(int argc, char **argv);

#endif
