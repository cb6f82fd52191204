/* uidl.h: unique-id helpers shared by the stores: validity (RFC 1939 7.),
 * digests for messages without a usable id, and a set that keeps the ids
 * of one maildrop unique. */
#ifndef SATCHEL_UIDL_H
#define SATCHEL_UIDL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "store/maildrop.h"

#define UIDL_DIGEST_HEX 32 /* hex chars kept of the SHA-256 (128 bits) */

/* RFC 1939 7.: 1 to 70 characters in the range 0x21 to 0x7E. */
bool uidl_is_valid(const char *text, size_t len);

/* Hex of the first UIDL_DIGEST_HEX / 2 bytes of SHA-256 over the parts,
 * each part preceded by its length so part boundaries cannot shift.
 * out needs UIDL_DIGEST_HEX + 1 bytes. Returns 0 or -1 (OpenSSL failed). */
int uidl_digest(const struct iovec *parts, size_t count, char *out);

/* Open-addressing set of NUL-terminated ids. It stores the pointers, not
 * copies: each id must stay in place while the set is used. */
struct uidl_set {
	const char **slots;
	size_t mask;
	size_t used;
};

/* Sizes the set for up to expected ids. Returns 0 or -1 (out of memory). */
int uidl_set_init(struct uidl_set *set, size_t expected);
void uidl_set_deinit(struct uidl_set *set);
/* Adds id unless present. Returns true when added, false when present. */
bool uidl_set_add(struct uidl_set *set, const char *id);
/* Makes id (buffer of MAILDROP_UIDL_MAX + 1) unique by appending "-2",
 * "-3"... (shortening the stem when needed), then adds it. */
void uidl_set_add_unique(struct uidl_set *set, char *id);

#endif
