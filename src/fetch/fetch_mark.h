/* fetch_mark.h: the no-news shortcut of a leave-on-server poll.
 *
 * After a --keep session that listed the whole mailbox and left nothing
 * in it to fetch or to delete, NAME.mark records what STAT said and the
 * UIDLs of the first and the last message. The next poll whose STAT
 * gives the same count and octets, and whose "UIDL 1" and "UIDL n" give
 * the same UIDLs, ends there: no UIDL listing, no journal read.
 *
 * Why that is enough: servers list messages in arrival order, so new
 * mail changes the count or the last UIDL (also when another client
 * deleted one meanwhile). A message that a server put elsewhere in its
 * list while another of exactly the same size left is found by the
 * full listing made at least every FETCH_MARK_MAX_AGE. A mark that is
 * lost, torn or older than the last session only costs one full
 * listing: it describes a state in which nothing was left to do, and
 * says nothing about any other. */
#ifndef SATCHEL_FETCH_MARK_H
#define SATCHEL_FETCH_MARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/maildrop.h"

/* a full listing at least this often, however unchanged STAT looks */
#define FETCH_MARK_MAX_AGE (24 * 3600)
/* "v1 COUNT OCTETS LISTED DUE IDENT FIRST LAST\n" */
#define FETCH_MARK_TEXT_MAX (3 + 5 * 21 + 2 * (MAILDROP_UIDL_MAX + 1) + 2)

struct fetch_mark {
	uint64_t count, octets;    /* STAT of that listing (count >= 1) */
	time_t listed_at;          /* when it was made */
	time_t due;                /* a kept message becomes due for
				      deletion then; 0: none ever */
	uint64_t ident;            /* the server and user it is of */
	char first[MAILDROP_UIDL_MAX + 1];
	char last[MAILDROP_UIDL_MAX + 1];
};

/* The mark's text. Its length, or -1 when out does not hold it. */
int fetch_mark_format(const struct fetch_mark *m, char *out, size_t size);
/* 0, or -1 when text is no valid mark (any version but v1, a field
 * missing or out of range, a UIDL that uidl_is_valid refuses). */
int fetch_mark_parse(const char *text, size_t len, struct fetch_mark *m);

/* The mark at path: 0, or -1 when there is none that parses. */
int fetch_mark_read(const char *path, struct fetch_mark *m);
/* Replaces it atomically (fileio_replace; durability is not needed,
 * see the top, but a torn mark must never be read). 0 or -1. */
int fetch_mark_write(const char *path, const struct fetch_mark *m);
void fetch_mark_remove(const char *path);

/* May the mark stand for a full listing now? */
bool fetch_mark_usable(const struct fetch_mark *m, uint64_t ident,
		       time_t now);

#endif
