/* fdtable.c: objects indexed by file descriptor (fdtable.h). */
#include "util/fdtable.h"

#include <stdlib.h>
#include <string.h>

#define FDTABLE_FIRST 256

int fdtable_put(struct fdtable *t, int fd, void *obj)
{
	if (fd < 0)
		return -1;
	if ((size_t)fd >= t->cap) {
		size_t cap = t->cap == 0 ? FDTABLE_FIRST : t->cap;
		void **slots;

		while (cap <= (size_t)fd)
			cap *= 2;
		slots = realloc(t->slots, cap * sizeof(*slots));
		if (slots == NULL)
			return -1;
		memset(slots + t->cap, 0, (cap - t->cap) * sizeof(*slots));
		t->slots = slots;
		t->cap = cap;
	}
	t->slots[fd] = obj;
	return 0;
}

void *fdtable_get(const struct fdtable *t, size_t fd)
{
	return fd < t->cap ? t->slots[fd] : NULL;
}

bool fdtable_drop(struct fdtable *t, int fd, const void *obj)
{
	if (fd < 0 || (size_t)fd >= t->cap || t->slots[fd] != obj)
		return false;
	t->slots[fd] = NULL;
	return true;
}

void fdtable_free(struct fdtable *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = 0;
}
