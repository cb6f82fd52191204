/* agent.h: a mail agent's work (see agent_proto.h): one session's
 * maildrop, held with the user's uid, served over one socket. Started by
 * the auth process's spawner (auth/sysspawn_agent.c) with its
 * privileges already dropped and its sandbox on. */
#ifndef SATCHEL_AGENT_H
#define SATCHEL_AGENT_H

#include "store/maildrop.h"

/* Serves set's maildrop (its kind MAILDROP_MAILDIR or MAILDROP_MBOX, its
 * path from the auth process, never from the worker) on fd until the
 * peer closes it (nothing changed), a COMMIT is answered, the session
 * lock is lost or the peer breaks the protocol. Refreshes the lock
 * itself every lock_stale_secs / 3. Returns a sysexits code. */
int agent_serve(int fd, const struct maildrop_settings *set);

#endif
