/* auth_process.h: the auth process, the only one that reads the user
 * database and secrets.
 *
 * It serves struct auth_request messages (auth_proto.h) from every worker
 * socket and answers with struct auth_reply. It also enforces
 * login_delay (remembering each user's last successful login, persisted
 * in state_dir) and max_sessions_per_user (counting sessions per worker
 * socket; when a worker socket closes, its sessions are forgotten).
 *
 * control_fd: the master sends a struct auth_control with the new worker
 * socket attached (fdpass.h) whenever a worker slot is (re)started; the
 * previous socket of that slot is closed. EOF on control_fd ends the
 * process. SIGHUP (or a changed mtime) reloads the passwd-file. */
#ifndef SATCHEL_AUTH_PROCESS_H
#define SATCHEL_AUTH_PROCESS_H

#include <stdint.h>

#include "util/config.h"

struct auth_control {
	uint32_t slot; /* worker slot index */
};

/* Runs until control_fd reaches EOF. Returns an exit status (sysexits). */
int auth_process_run(const struct config *cfg, int control_fd);

#endif
