/* uidlist.h: Dovecot's per-Maildir "dovecot-uidlist" (version 3) and its
 * pop3_uidl_format templates: what `satchel migrate uidl --from
 * dovecot-uidlist` needs to show the UIDLs Dovecot's POP3 server showed.
 *
 * The file (untrusted: anything may be in it):
 *
 *	"3" SP field *(SP field) LF        fields: V<uidvalidity> N<next uid>
 *	                                   G<guid> ...; V is required
 *	uid *(SP ext) SP ":" filename LF   exts: a letter and a value
 *	                                   (W<vsize> S<size> G<guid> P<uidl>)
 *
 * UIDs ascend strictly. Version 1 and 2 files (Dovecot before 1.0.rc/1.1)
 * are refused: no Dovecot of the last fifteen years writes them. */
#ifndef SATCHEL_UIDLIST_H
#define SATCHEL_UIDLIST_H

#include <stddef.h>
#include <stdint.h>

#define UIDLIST_FILE_NAME "dovecot-uidlist"
/* A list bigger than this is not a uidlist (a line is ~60 octets, so this
 * is over 4 million messages). */
#define UIDLIST_FILE_MAX (256u << 20)

struct uidlist_entry {
	uint32_t uid;
	const char *base;      /* the filename up to ':' (the Maildir base) */
	const char *guid;      /* the G extension, or NULL */
	const char *pop3_uidl; /* the P extension (a UIDL Dovecot kept from a
				  migration or pop3_save_uidl), or NULL */
};

struct uidlist {
	uint32_t uidvalidity, next_uid;
	struct uidlist_entry *entries; /* in file (UID) order */
	size_t count;
	char *buf;                     /* owns every string above */
};

/* Parses len octets. Returns 0 with *list_r (the caller frees it with
 * uidlist_free), or -1 with *error_r (static text) and *line_r (1-based;
 * 0 when the file as a whole is wrong, e.g. out of memory, too big). */
int uidlist_parse(const char *data, size_t len, struct uidlist **list_r,
		  const char **error_r, size_t *line_r);
void uidlist_free(struct uidlist **listp);

/* pop3_uidl_format templates, as Dovecot's var_expand reads them:
 * %u (UID), %v (UIDVALIDITY), each with an optional 0-padded width
 * ("%08u") and the modifier X (hex, printed in lower case as Dovecot
 * does: its default "%08Xu%08Xv" gives "000000016b104737"); %f (the
 * Maildir base name), %g (the G extension, else the base name, as
 * Dovecot's Maildir GUID); the modifiers U and L (upper and lower case)
 * on any of them; %%. Refused: %m (the MD5 of the headers: mbox only in
 * Dovecot), a width without 0 (Dovecot truncates then) and everything
 * else, so a migration never silently computes other UIDLs than Dovecot
 * did. Returns 0, or -1 with *error_r. */
int uidlist_format_check(const char *tmpl, const char **error_r);
#define UIDLIST_DEFAULT_FORMAT "%08Xu%08Xv"

/* The UIDL Dovecot showed for e: its P extension when it has one (Dovecot
 * prefers a stored UIDL to the template), else tmpl expanded. out gets
 * at most out_size - 1 octets and a NUL. Returns 0, or -1 with *error_r
 * (a bad template, a result that does not fit). */
int uidlist_uidl(const char *tmpl, const struct uidlist *list,
		 const struct uidlist_entry *e, char *out, size_t out_size,
		 const char **error_r);

#endif
