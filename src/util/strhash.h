/* strhash.h: the one string hash for our in-memory tables (UIDLs, index
 * keys, user names, client addresses). FNV-1a, then a splitmix64
 * finaliser because FNV's low bits cluster on keys that differ only in
 * digits. Not keyed: no table here is sized by an attacker's choice of
 * keys beyond the limits that bound it. */
#ifndef SATCHEL_STRHASH_H
#define SATCHEL_STRHASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t strhash_mix(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 31;
	return h;
}

static inline uint64_t strhash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return strhash_mix(h);
}

/* The same hash of len octets (not NUL-terminated). */
static inline uint64_t strhash_len(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return strhash_mix(h);
}

#endif
