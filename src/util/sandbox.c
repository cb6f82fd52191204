/* sandbox.c: the kernel restrictions of a child process (see
 * sandbox.h). */
#include "util/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "util/log.h"

int sandbox_apply(const char *kind, bool announce, char *err,
		  size_t errsize)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		snprintf(err, errsize, "sandbox: PR_SET_NO_NEW_PRIVS: %s",
			 strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errsize, "sandbox: PR_SET_DUMPABLE: %s",
			 strerror(errno));
		return -1;
	}
	if (announce)
		log_info("sandbox: %s: no_new_privs, not dumpable", kind);
	return 0;
}
