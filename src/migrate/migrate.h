/* migrate.h: `satchel migrate uidl`: the UIDLs another POP3 server showed,
 * imported into satchel's index (docs/satchel.1 MIGRATE, docs/admin.md). */
#ifndef SATCHEL_MIGRATE_H
#define SATCHEL_MIGRATE_H

#include <stddef.h>

#include "store/uidl_import.h"

/* The subcommand's entry (main.c). Exits with a sysexits code. */
int migrate_main(int argc, char **argv);

struct migrate_pairs {
	struct uidl_import_pair *pairs; /* in the old server's order */
	size_t count;
	void *owner;                    /* the source's parsed list */
	void (*free_owner)(void *owner);
	void *strings;                  /* malloc'd block, or NULL */
};

/* Finds the loader for --from spec ("dovecot-uidlist", "file:PATH") and
 * runs it. Returns EX_OK with *pairs_r, EX_USAGE (unknown source, bad
 * --format), EX_NOINPUT (no list file), EX_DATAERR (a garbled list),
 * EX_IOERR, EX_OSERR (memory); the reason went to stderr. */
int migrate_source_load(const char *spec, const char *maildir,
			const char *format, struct migrate_pairs *pairs_r);
void migrate_pairs_free(struct migrate_pairs *pairs);
/* --from x-uidl (migrate_xuidl.c), a loader of migrate_source.c's
 * table: the first X-UIDL header of each message of maildir. */
int migrate_load_xuidl(const char *maildir, const char *arg,
		       const char *format, struct migrate_pairs *pairs_r);
/* The names of the sources, for the usage text. */
extern const char migrate_source_names[];

#endif
