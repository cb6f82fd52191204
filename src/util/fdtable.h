/* fdtable.h: objects indexed by file descriptor (a worker's sessions):
 * the object an event or a reply is for, found in O(1) from its fd. The
 * table grows by doubling; a slot is empty (NULL) or holds one object. */
#ifndef SATCHEL_FDTABLE_H
#define SATCHEL_FDTABLE_H

#include <stdbool.h>
#include <stddef.h>

struct fdtable {
	void **slots;
	size_t cap;        /* slots 0 .. cap - 1 exist */
};

/* Puts obj at fd (the table grows as needed). 0, or -1 out of memory. */
int fdtable_put(struct fdtable *t, int fd, void *obj);
/* The object at fd, or NULL. */
void *fdtable_get(const struct fdtable *t, size_t fd);
/* Empties fd's slot if it holds obj (a reused fd may hold a newer
 * object); true when it did. */
bool fdtable_drop(struct fdtable *t, int fd, const void *obj);
void fdtable_free(struct fdtable *t);

#endif
