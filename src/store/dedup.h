/* dedup.h: idempotent delivery. A delivery id (a digest of sender, final
 * recipient, Message-ID and body) is remembered per maildrop for some
 * days, so an MTA that retries a transaction we already stored (it timed
 * out waiting for our reply) gets success without a second copy.
 *
 * Stored in "satchel.delivered" inside the Maildir (next to an mbox:
 * "<mbox>.satchel-delivered"): one "id epoch" line per delivery,
 * appended under an flock, compacted (fileio_replace) when old entries
 * make up most of it. */
#ifndef SATCHEL_DEDUP_H
#define SATCHEL_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define DEDUP_ID_HEX 32             /* 128 bits in hex */

struct dedup;

/* Opens (creates) the id file for a maildrop and takes its flock: held
 * from the check through the store and the record, so two deliveries of
 * the same message cannot both miss. 0 with *dedup_r, or -1 with
 * *error_r. */
int dedup_open(const char *file_path, struct dedup **dedup_r,
	       const char **error_r);
/* The same, waiting for the flock only until deadline (CLOCK_MONOTONIC;
 * NULL: blocking, as dedup_open), so a slow delivery to the same maildrop
 * cannot hold this one past its own time ("timed out waiting for the
 * delivery id lock", errno ETIMEDOUT: a temporary failure). */
int dedup_open_until(const char *file_path, const struct timespec *deadline,
		     struct dedup **dedup_r, const char **error_r);
/* Was id recorded within days? */
bool dedup_seen(struct dedup *dedup, const char *id, unsigned days);
/* Records id (after the message is durable) and fsyncs. 0 or -1. */
int dedup_record(struct dedup *dedup, const char *id, const char **error_r);
/* Releases the flock and frees. NULL-safe. */
void dedup_close(struct dedup **dedupp);

/* The delivery id of a message: hex of a SHA-256 prefix (OpenSSL EVP)
 * over the body digest and the envelope parts, each length-prefixed.
 * The body digest is made once per message (SHA-256 of the spooled
 * bytes, 32 octets, by the caller with EVP); the id once per recipient.
 * id_r has DEDUP_ID_HEX + 1 octets. */
#define DEDUP_BODY_DIGEST 32
void dedup_make_id(const unsigned char body_digest[DEDUP_BODY_DIGEST],
		   const char *sender, const char *rcpt,
		   const char *message_id, char *id_r);

#endif
