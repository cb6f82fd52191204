/* usercache.c: the positive and negative user cache (see usercache.h):
 * a hash table of names, and per kind a list in the order the answers
 * came (oldest first out). */
#include "auth/usercache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/strhash.h"

struct usercache_entry {
	struct usercache_entry *hnext;          /* bucket chain */
	struct usercache_entry *prev, *next;    /* its kind's age order */
	struct sqlrow_record *record;           /* NULL: no such user */
	uint64_t stored_ms, expires_ms;
	char name[];
};

struct usercache_list {
	struct usercache_entry *head, *tail;
	size_t count;
};

struct usercache {
	struct usercache_settings set;
	struct usercache_entry **buckets;
	size_t n_buckets;
	struct usercache_list kinds[2];         /* [0] negative, [1] positive */
};

struct usercache *usercache_create(const struct usercache_settings *set)
{
	struct usercache *c = calloc(1, sizeof(*c));
	size_t n = 64;

	if (c == NULL)
		return NULL;
	c->set = *set;
	if (c->set.max_entries == 0)
		c->set.max_entries = 1;
	while (n < c->set.max_entries && n < ((size_t)1 << 24))
		n *= 2;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	c->n_buckets = n;
	return c;
}

static struct usercache_entry **usercache_slot(const struct usercache *c,
					       const char *user)
{
	struct usercache_entry **p =
		&c->buckets[strhash(user) & (c->n_buckets - 1)];

	while (*p != NULL && strcmp((*p)->name, user) != 0)
		p = &(*p)->hnext;
	return p;
}

static void usercache_unlink(struct usercache *c, struct usercache_entry *e)
{
	struct usercache_list *l = &c->kinds[e->record != NULL];

	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	l->count--;
	e->prev = e->next = NULL;
}

static void usercache_append(struct usercache *c, struct usercache_entry *e)
{
	struct usercache_list *l = &c->kinds[e->record != NULL];

	e->next = NULL;
	e->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->count++;
}

/* Removes the entry *slot points to. */
static void usercache_remove(struct usercache *c,
			     struct usercache_entry **slot)
{
	struct usercache_entry *e = *slot;

	*slot = e->hnext;
	usercache_unlink(c, e);
	sqlrow_record_free(&e->record);
	free(e);
}

enum usercache_hit usercache_find(const struct usercache *c, const char *user,
				  uint64_t now_ms,
				  const struct sqlrow_record **record_r,
				  uint64_t *age_ms_r)
{
	const struct usercache_entry *e = *usercache_slot(c, user);

	*record_r = NULL;
	*age_ms_r = 0;
	if (e == NULL || now_ms >= e->expires_ms + c->set.stale_max_ms)
		return USERCACHE_MISS;
	*record_r = e->record;
	*age_ms_r = now_ms > e->stored_ms ? now_ms - e->stored_ms : 0;
	return now_ms < e->expires_ms ? USERCACHE_FRESH : USERCACHE_EXPIRED;
}

int usercache_put(struct usercache *c, const char *user,
		  struct sqlrow_record *record, uint64_t now_ms)
{
	struct usercache_entry **slot = usercache_slot(c, user), *e;
	struct usercache_list *l = &c->kinds[record != NULL];
	size_t len = strlen(user);

	if (*slot != NULL)
		usercache_remove(c, slot);
	/* oldest first out, within the kind only */
	while (l->count >= c->set.max_entries && l->head != NULL)
		usercache_remove(c, usercache_slot(c, l->head->name));
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL) {
		sqlrow_record_free(&record);
		return -1;
	}
	memcpy(e->name, user, len + 1);
	e->record = record;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (record != NULL ? c->set.positive_ttl_ms :
				  c->set.negative_ttl_ms);
	slot = usercache_slot(c, user);
	e->hnext = NULL;
	*slot = e;
	usercache_append(c, e);
	return 0;
}

void usercache_drop(struct usercache *c, const char *user)
{
	struct usercache_entry **slot = usercache_slot(c, user);

	if (*slot != NULL)
		usercache_remove(c, slot);
}

void usercache_clear(struct usercache *c)
{
	size_t i;

	for (i = 0; i < c->n_buckets; i++) {
		while (c->buckets[i] != NULL)
			usercache_remove(c, &c->buckets[i]);
	}
}

void usercache_expire_all(struct usercache *c, uint64_t now_ms)
{
	struct usercache_entry *e;
	int k;

	for (k = 0; k < 2; k++) {
		for (e = c->kinds[k].head; e != NULL; e = e->next) {
			if (e->expires_ms > now_ms)
				e->expires_ms = now_ms;
		}
	}
}

size_t usercache_count(const struct usercache *c, bool positive)
{
	return c->kinds[positive].count;
}

void usercache_destroy(struct usercache **cp)
{
	struct usercache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	usercache_clear(c);
	free(c->buckets);
	free(c);
}
