/* control.h: `satchel reload`, `satchel stop` and `satchel status`: the
 * commands that act on a running `satchel serve` found through the
 * config's pid_file (util/pidfile.h: trusted only while locked). Each
 * takes argv[0] = its name and returns a sysexits status; status
 * returns 3 when the server is not running (the LSB init script
 * convention). */
#ifndef SATCHEL_CONTROL_H
#define SATCHEL_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

int control_reload_main(int argc, char **argv);
int control_stop_main(int argc, char **argv);
int control_status_main(int argc, char **argv);

/* --- between control.c and control_status.c --- */

struct config;

/* The exit status of status for a server that is not running. */
#define CONTROL_NOT_RUNNING 3

/* Parses -c FILE (and --timeout SECS when timeout_r is not NULL), loads
 * the config and reads the running master's pid. EX_OK; -1 when --help
 * was answered; or a sysexits status with the message printed (not
 * running: CONTROL_NOT_RUNNING for status, EX_UNAVAILABLE otherwise). */
int control_setup(const char *name, int argc, char **argv,
		  struct config *cfg, pid_t *pid_r, unsigned *timeout_r);

/* control_status.c: prints the metrics of metrics_listen for a person.
 * A sysexits status. */
int control_print_metrics(const char *metrics_listen);

#endif
