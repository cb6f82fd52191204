/* master.h: `satchel serve`: the root master process. It loads the config,
 * binds the listeners, starts the auth process and the workers, restarts
 * crashed workers, reloads on SIGHUP and stops on SIGTERM. It never reads
 * client input. */
#ifndef SATCHEL_MASTER_H
#define SATCHEL_MASTER_H

#include "config/worker_setup.h"

/* argv[0] is "serve". Returns a sysexits status. */
int master_main(int argc, char **argv);

/* The entry point of the LMTP workers (deliver/'s lmtp_worker_run),
 * given by main.c before master_main. Without it (NULL, the default) a
 * config with lmtp_listen is refused at start and at reload. */
void master_set_lmtp_worker(lmtp_worker_run_fn *run);

#endif
