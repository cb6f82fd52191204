/* sysspawn.h: the root spawner of the auth process's helpers for system
 * users. PAM reads /etc/shadow and may switch users, so it needs root;
 * the auth process does not run as root. Before the auth process drops
 * its privileges it forks this small process, which keeps root and does
 * one thing: on a sysspawn_request (pam_proto.h) from the auth process
 * it forks a helper on a new socketpair and hands the auth process its
 * end (SCM_RIGHTS). Helpers die with it, and it dies with the auth
 * process; it answers nobody else (its one socket is the auth
 * process's). */
#ifndef SATCHEL_SYSSPAWN_H
#define SATCHEL_SYSSPAWN_H

#include "auth/auth_settings.h"

/* Forks the spawner when set->users names pam (in the auth process's
 * child, still root, before its privileges drop). 0 (also when none is
 * needed), or -1 (logged: PAM logins then fail temporarily). */
int sysspawn_start(const struct auth_settings *set);
/* The auth process's socket to its spawner, -1 when there is none. */
int sysspawn_socket(void);

#endif
