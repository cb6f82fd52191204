/* uidl_import.h: puts UIDLs that another POP3 server showed into a
 * Maildir's satchel.index (`satchel migrate uidl`), so its clients do not
 * download everything again. The mail files are not touched: the index
 * stores each imported UIDL apart from its key, and the snapshot prefers
 * a stored UIDL to the base name (maildir_scan.c, docs/store.md).
 *
 * Safe beside a running server: it takes the session lock a POP3 login
 * takes (MAILDROP_IN_USE while a session holds it), and the index is
 * replaced atomically (fileio_replace). Idempotent: the same pairs give
 * the same index, which is then not rewritten. */
#ifndef SATCHEL_UIDL_IMPORT_H
#define SATCHEL_UIDL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/maildrop.h"

struct uidl_import_pair {
	const char *base; /* Maildir base name (up to ':') */
	const char *uidl; /* the UIDL the old server showed */
};

struct uidl_import_stats {
	size_t messages;  /* in the Maildir */
	size_t imported;  /* messages that got a UIDL from the pairs */
	size_t renamed;   /* duplicates renamed "-2", "-3"... */
	size_t changed;   /* messages whose UIDL differs from before */
	size_t unmatched; /* pairs naming no message (already deleted) */
	size_t invalid;   /* pairs whose UIDL RFC 1939 forbids: skipped */
	size_t unstorable; /* messages whose name the index cannot hold (a
			      space, a control byte): kept their own UIDL */
	bool written;     /* the index was rewritten */
};

/* Imports count pairs, in the old server's message order: when two
 * messages would show the same UIDL, the earlier pair keeps it and the
 * later one becomes "UIDL-2", "-3"... (Dovecot's pop3_uidl_duplicates =
 * rename); the UIDLs of messages no pair names come after them and yield
 * in the same way. A base named twice keeps its first pair. dry_run:
 * compute the stats, write nothing. set->kind must be MAILDROP_MAILDIR
 * and set->create false. Returns MAILDROP_OK with *stats_r, or
 * MAILDROP_IN_USE (a session is open), MAILDROP_TEMP (I/O, memory),
 * MAILDROP_PERM (not a Maildir) with *error_r. */
int uidl_import_maildir(const struct maildrop_settings *set,
			const struct uidl_import_pair *pairs, size_t count,
			bool dry_run, struct uidl_import_stats *stats_r,
			const char **error_r);

#endif
