/* lockowner.c: format and parse the owner line of a lock file
 * (lockowner.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/lockowner.h"
#include "util/strnum.h"

#define LOCKOWNER_FIELDS_MAX 6

void lockowner_self(struct lock_owner *owner, const char *token)
{
	memset(owner, 0, sizeof(*owner));
	snprintf(owner->node, sizeof(owner->node), "%s", node_id());
	snprintf(owner->boot, sizeof(owner->boot), "%s", node_boot_id());
	snprintf(owner->instance, sizeof(owner->instance), "%s",
		 node_instance());
	snprintf(owner->token, sizeof(owner->token), "%s", token);
	owner->pid = getpid();
}

int lockowner_format(const struct lock_owner *owner, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%s %s %s %ld %s %lld\n", owner->node,
			   owner->boot, owner->instance, (long)owner->pid,
			   owner->token, (long long)time(NULL));

	return len < 0 || (size_t)len >= size ? -1 : len;
}

/* Copies field into dst (size bytes with the NUL). Returns 0 or -1. */
static int lockowner_copy(char *dst, size_t size, const char *field,
			  size_t len)
{
	if (len == 0 || len >= size)
		return -1;
	memcpy(dst, field, len);
	dst[len] = '\0';
	return 0;
}

int lockowner_parse(const char *text, struct lock_owner *owner_r)
{
	const char *field[LOCKOWNER_FIELDS_MAX];
	size_t len[LOCKOWNER_FIELDS_MAX], nfields = 0;
	const char *p = text, *pidfield;
	char pidtext[24];
	uint64_t pid;
	size_t pidlen;

	memset(owner_r, 0, sizeof(*owner_r));
	while (*p != '\0' && *p != '\n') {
		const char *start = p;

		if (nfields == LOCKOWNER_FIELDS_MAX)
			return -1;
		while (*p != '\0' && *p != '\n' && *p != ' ')
			p++;
		field[nfields] = start;
		len[nfields++] = (size_t)(p - start);
		if (*p == ' ')
			p++;
	}
	if (nfields == 3) { /* "host pid time" */
		if (lockowner_copy(owner_r->node, sizeof(owner_r->node),
				   field[0], len[0]) < 0)
			return -1;
		strcpy(owner_r->boot, "-");
		strcpy(owner_r->instance, "-");
		strcpy(owner_r->token, "-");
		pidfield = field[1];
		pidlen = len[1];
	} else if (nfields == 6) {
		if (lockowner_copy(owner_r->node, sizeof(owner_r->node),
				   field[0], len[0]) < 0 ||
		    lockowner_copy(owner_r->boot, sizeof(owner_r->boot),
				   field[1], len[1]) < 0 ||
		    lockowner_copy(owner_r->instance,
				   sizeof(owner_r->instance), field[2],
				   len[2]) < 0 ||
		    lockowner_copy(owner_r->token, sizeof(owner_r->token),
				   field[4], len[4]) < 0)
			return -1;
		pidfield = field[3];
		pidlen = len[3];
	} else {
		return -1;
	}
	if (lockowner_copy(pidtext, sizeof(pidtext), pidfield, pidlen) < 0 ||
	    strnum_parse_u64(pidtext, INT32_MAX, &pid) < 0 || pid < 2)
		return -1;
	owner_r->pid = (pid_t)pid;
	return 0;
}
