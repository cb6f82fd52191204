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
 * socket (AF_UNIX SOCK_SEQPACKET) attached (fdpass.h) whenever a worker
 * slot (0..255) is (re)started; the previous socket of that slot is closed
 * and its sessions forgotten. A message without a descriptor just closes
 * the slot. EOF on control_fd (or SIGTERM/SIGINT) ends the process with 0.
 * SIGHUP, or a change of the passwd-file's inode, size or mtime (checked
 * with stat() before each login), reloads it; a file that fails to load
 * leaves the previous users in service (AUTH_TEMPFAIL if there never were
 * any).
 *
 * Requests: AUTH_REQ_LOGOUT must carry the canonical user name from the
 * AUTH_OK reply, on the socket that got the reply; it has no reply.
 * AUTH_REQ_USERDB is answered, only on an AUTH_SLOT_LMTP socket (the
 * login requests only on an AUTH_SLOT_POP3 one, except AUTH_REQ_PASS,
 * which an LMTP worker sends for an MTA's AUTH PLAIN after STARTTLS:
 * "secured" must be set, plaintext_auth does not apply, and success
 * counts no session and neither checks nor starts LOGIN-DELAY; the
 * others get AUTH_PERMFAIL, or nothing for those without a reply), from
 * auth_userdb_lookup()
 * with the recipient's record (quota_bytes/quota_messages -1 when the
 * user has none of their own): no secret is read, no session counted,
 * no LOGIN-DELAY checked or started.
 * PASS is refused (AUTH_FAILED) when plaintext_auth forbids it for the
 * request's "secured" flag, APOP when apop = no. An unknown request type
 * gets AUTH_PERMFAIL; a message of the wrong size is dropped without a
 * reply. A user with uid or gid 0, or whose mail location cannot be
 * expanded, gets AUTH_PERMFAIL (after a correct password). In the reply,
 * expire_days and login_delay are the user's own values, -1 when the
 * global setting applies. Replies to a worker whose socket is full wait
 * (and that worker is not read) until it drains. */
#ifndef SATCHEL_AUTH_PROCESS_H
#define SATCHEL_AUTH_PROCESS_H

#include <stdint.h>

#include "auth/auth_settings.h"

/* What a worker socket's requests may be: a POP3 worker logs users in,
 * an LMTP worker looks recipients up (AUTH_REQ_USERDB) and checks an
 * MTA's password (AUTH_REQ_PASS, no session), so neither can do the
 * other's work if it is taken over (a POP3 worker could otherwise list
 * users and their mail paths without a password). */
enum auth_slot_kind {
	AUTH_SLOT_POP3 = 0,
	AUTH_SLOT_LMTP = 1,
};

struct auth_control {
	uint32_t slot; /* worker slot index */
	uint32_t kind; /* enum auth_slot_kind */
};

/* Runs until control_fd reaches EOF. Returns an exit status (sysexits). */
int auth_process_run(const struct auth_settings *set, int control_fd);

#endif
