/* delivery_name.h: names of new Maildir files (private to src/store;
 * tests use it).
 *
 *   SECONDS.M<usec>P<pid>Q<counter>R<random>.<host>,S=<size>,W=<wsize>
 *   SECONDS.M<usec>P<pid>Q<counter>K<key>.<host>,S=<size>,W=<wsize>
 *
 * The second form, for the fetch client, carries a key (up to
 * DELIVERY_KEY_MAX lower-case hex digits) that names what the file
 * holds (an account's UIDL), so a rerun after a kill can tell by the
 * names alone which messages it stored (delivery_maildir_keys).
 * Unique on one host by time, pid and a per-process counter, across
 * hosts by the host name and 16 random bits (link() refuses a taken
 * name anyway: the writer then makes another). At most
 * DELIVERY_NAME_MAX (70) octets of 0x21-0x7E, so the whole name is the
 * UIDL (RFC 1939 7.): the host is cut to fit (to 4 octets in the worst
 * case of a 7-digit pid and 10-digit sizes). Only sizes of 10^12 octets
 * and more make a longer name (the host left out); the reader then
 * gives it a digest UIDL.
 * ,S= is the stored size and ,W= the LIST size (Maildir++), which
 * maildir_scan.c reads back instead of opening the file. */
#ifndef SATCHEL_DELIVERY_NAME_H
#define SATCHEL_DELIVERY_NAME_H

#include <stddef.h>
#include <stdint.h>

/* hostname NULL or "": gethostname(). key NULL or "": none (random
 * bits instead). The host part has '/', ':' and
 * ',' (which would fake a ,S= field) as \057, \072, \054 (Maildir), and
 * any octet outside 0x21-0x7E as '_'. out_size > DELIVERY_NAME_MAX.
 * Returns 0, or -1 when out is too small. */
int delivery_name_make(const char *hostname, const char *key, uint64_t size,
		       uint64_t wsize, char *out, size_t out_size);

#endif
