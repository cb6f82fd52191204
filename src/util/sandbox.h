/* sandbox.h: what a child of the master gives up right after its
 * privilege drop (issue 13, docs/security.md). */
#ifndef SATCHEL_SANDBOX_H
#define SATCHEL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* PR_SET_NO_NEW_PRIVS (no execve can gain privileges again: setuid
 * binaries, file capabilities) and PR_SET_DUMPABLE 0 (no core file, no
 * ptrace by the same uid, /proc/PID/mem and environ owned by root: every
 * child holds a secret, the TLS key or the users' passwords). Each step
 * is checked by reading it back. Logs one line naming kind when announce
 * is set (the master asks for it once per kind). 0, or -1 with err. */
int sandbox_apply(const char *kind, bool announce, char *err,
		  size_t errsize);

#endif
