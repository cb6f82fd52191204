/* dedup.h: idempotent delivery. A delivery id (a digest of sender, final
 * recipient, Message-ID and body) is remembered per maildrop for some
 * days, so an MTA that retries a transaction we already stored (it timed
 * out waiting for our reply) gets success without a second copy.
 *
 * Stored in "satchel.delivered" inside the Maildir (next to an mbox:
 * "<mbox>.satchel-delivered"), appended under an flock, compacted
 * (fileio_replace) when old entries make up most of it. Two lines per
 * Maildir delivery: "id epoch name" (pending) just before the file is
 * linked into new/ under name, "id epoch" (done) once new/ is synced.
 * A delivery killed between the two leaves a pending entry: the retry
 * looks for name in new/ and cur/ and finds the copy the kill left
 * (answered as delivered) or none (stored again). So a process killed
 * at any point leaves exactly one copy after the MTA's retry.
 *
 * The lines are written without fsync: a killed process loses nothing
 * from the page cache, and the two fsyncs of a delivery (file, new/)
 * are its whole cost. What a crash of the machine costs: an entry not
 * yet on disk, so a retry of a transaction whose reply was lost with
 * it is stored a second time (a duplicate, never a loss). */
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
/* The longest name a pending entry holds (a Maildir name with info) */
#define DEDUP_NAME_MAX 120

enum dedup_state {
	DEDUP_NEW,      /* not recorded within the days */
	DEDUP_PENDING,  /* about to be linked as name: look for it */
	DEDUP_DONE,     /* stored */
};

/* The state of id within days; for DEDUP_PENDING the name goes into
 * name_r (name_size octets, terminated). */
enum dedup_state dedup_lookup(struct dedup *dedup, const char *id,
			      unsigned days, char *name_r, size_t name_size);
/* Appends an entry for id: pending as name, or done (name NULL). 0 or
 * -1 with *error_r. */
int dedup_record(struct dedup *dedup, const char *id, const char *name,
		 const char **error_r);
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
