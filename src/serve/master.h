/* master.h: `satchel serve`: the root master process. It loads the config,
 * binds the listeners, starts the auth process and the workers, restarts
 * crashed workers, reloads on SIGHUP and stops on SIGTERM. It never reads
 * client input. */
#ifndef SATCHEL_MASTER_H
#define SATCHEL_MASTER_H

/* argv[0] is "serve". Returns a sysexits status. */
int master_main(int argc, char **argv);

#endif
