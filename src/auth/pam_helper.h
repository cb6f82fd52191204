/* pam_helper.h: one PAM helper process (started by sysspawn.c, as root):
 * answers the auth process's pam_request packets (pam_proto.h) one at a
 * time on its socket, each with one pam_answer, until EOF.
 *
 * PAM modules may block (a network directory, a slow disk) and are not
 * thread-safe: that is why they run here, in a process of their own,
 * and never in the auth process. The failure delay a module asks for
 * (pam_fail_delay, pam_unix's two seconds) is not slept here: a
 * PAM_FAIL_DELAY function records it and the answer carries it, so the
 * auth process delays the reply on a timer while this helper serves the
 * next request. */
#ifndef SATCHEL_PAM_HELPER_H
#define SATCHEL_PAM_HELPER_H

#include "auth/pam_proto.h"

/* The system's record of user (getpwnam_r) into ans: verdict
 * PAM_VERDICT_FOUND with uid, gid and home, PAM_VERDICT_UNKNOWN, or
 * PAM_VERDICT_UNAVAILABLE with why. May block (NSS): in a helper, or in
 * a tool that may wait. */
void pam_helper_lookup(const char *user, struct pam_answer *ans);

/* Serves fd until EOF or a protocol error; returns the exit status. */
int pam_helper_run(int fd);

#endif
