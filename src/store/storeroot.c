/* storeroot.c: the store's marker file (storeroot.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/storeroot.h"

int storeroot_check(const char *marker, const char **error_r)
{
	int fd;

	if (marker == NULL || marker[0] == '\0')
		return 0;
	fd = open(marker, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*error_r = errno == ENOENT ?
				   "the mail store is not mounted "
				   "(mail_store_marker is missing)" :
				   "cannot read mail_store_marker";
		return -1;
	}
	close(fd);
	return 0;
}
