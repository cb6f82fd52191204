/* proxyticket.c: proxy tickets (proxyticket.h). */
#include "auth/proxyticket.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TICKET_PREFIX "satchel-ticket:1:"
#define TICKET_NONCE_HEX 32
#define TICKET_MAC_HEX 64
/* nonces seen, until they expire: open addressing, a few probes each */
#define TICKET_SEEN_SLOTS 32768
#define TICKET_SEEN_PROBES 8

struct ticket_seen {
	unsigned char nonce[TICKET_NONCE_HEX / 2];
	time_t expiry;                  /* 0: free */
};

/* Module state: the nonces of tickets taken (per auth process). */
static struct ticket_seen *ticket_seen;

int proxyticket_key_load(const char *path, struct proxyticket_key *key,
			 const char **error_r)
{
	struct stat st;
	ssize_t n;
	int fd;

	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = "proxy_ticket_key: cannot open the key file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & 077) != 0) {
		close(fd);
		*error_r = "proxy_ticket_key: the key file must not be "
			   "readable by group or others";
		return -1;
	}
	n = read(fd, key->octets, sizeof(key->octets));
	close(fd);
	if (n < PROXYTICKET_KEY_MIN) {
		explicit_bzero(key, sizeof(*key));
		*error_r = "proxy_ticket_key: the key file needs at least 32 "
			   "octets (e.g. openssl rand -hex 32)";
		return -1;
	}
	key->len = (size_t)n;
	return 0;
}

static void hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int unhex(const char *in, size_t len, unsigned char *out)
{
	for (size_t i = 0; i < len; i += 2) {
		int v = 0;

		for (size_t j = 0; j < 2; j++) {
			char c = in[i + j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return -1;
		}
		out[i / 2] = (unsigned char)v;
	}
	return 0;
}

/* The MAC of "1:EXPIRY:NONCE:USER", in hex. 0 or -1. */
static int ticket_mac(const struct proxyticket_key *key, const char *user,
		      long long expiry, const char *nonce_hex,
		      char mac_hex[TICKET_MAC_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char data[64 + TICKET_NONCE_HEX + 512];
	int len;

	len = snprintf(data, sizeof(data), "1:%lld:%s:%s", expiry, nonce_hex,
		       user);
	if (len < 0 || (size_t)len >= sizeof(data) ||
	    HMAC(EVP_sha256(), key->octets, (int)key->len,
		 (const unsigned char *)data, (size_t)len, md, &md_len) ==
		    NULL ||
	    md_len != TICKET_MAC_HEX / 2)
		return -1;
	hex(md, md_len, mac_hex);
	return 0;
}

int proxyticket_mint(const struct proxyticket_key *key, const char *user,
		     time_t now, char *out, size_t size)
{
	unsigned char nonce[TICKET_NONCE_HEX / 2];
	char nonce_hex[TICKET_NONCE_HEX + 1], mac_hex[TICKET_MAC_HEX + 1];
	long long expiry = (long long)now + PROXYTICKET_SECS;
	int len;

	if (key->len == 0 ||
	    getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return -1;
	hex(nonce, sizeof(nonce), nonce_hex);
	if (ticket_mac(key, user, expiry, nonce_hex, mac_hex) < 0)
		return -1;
	len = snprintf(out, size, TICKET_PREFIX "%lld:%s:%s", expiry,
		       nonce_hex, mac_hex);
	return len > 0 && (size_t)len < size ? 0 : -1;
}

bool proxyticket_is_ticket(const char *text)
{
	return strncmp(text, TICKET_PREFIX, strlen(TICKET_PREFIX)) == 0;
}

/* Remembers nonce until expiry; false when it was seen already (or no
 * room could be made: refused, never let through twice). */
static bool ticket_first_use(const unsigned char *nonce, time_t expiry,
			     time_t now)
{
	struct ticket_seen *victim = NULL;
	uint64_t h;

	if (ticket_seen == NULL) {
		ticket_seen = calloc(TICKET_SEEN_SLOTS, sizeof(*ticket_seen));
		if (ticket_seen == NULL)
			return false;
	}
	memcpy(&h, nonce, sizeof(h)); /* random octets: their own hash */
	for (unsigned i = 0; i < TICKET_SEEN_PROBES; i++) {
		struct ticket_seen *e =
			&ticket_seen[(h + i) % TICKET_SEEN_SLOTS];

		if (e->expiry >= now &&
		    memcmp(e->nonce, nonce, sizeof(e->nonce)) == 0)
			return false;
		if (e->expiry < now && victim == NULL)
			victim = e;
	}
	if (victim == NULL)
		return false;
	memcpy(victim->nonce, nonce, sizeof(victim->nonce));
	victim->expiry = expiry;
	return true;
}

bool proxyticket_accept(const struct proxyticket_key *key, const char *user,
			const char *ticket, time_t now)
{
	unsigned char nonce[TICKET_NONCE_HEX / 2];
	char nonce_hex[TICKET_NONCE_HEX + 1], mac_hex[TICKET_MAC_HEX + 1];
	const char *p = ticket + strlen(TICKET_PREFIX), *colon;
	long long expiry;
	char *end;

	if (key->len == 0 || !proxyticket_is_ticket(ticket))
		return false;
	errno = 0;
	expiry = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != ':')
		return false;
	p = end + 1;
	colon = strchr(p, ':');
	if (colon == NULL || colon - p != TICKET_NONCE_HEX ||
	    strlen(colon + 1) != TICKET_MAC_HEX ||
	    unhex(p, TICKET_NONCE_HEX, nonce) < 0)
		return false;
	memcpy(nonce_hex, p, TICKET_NONCE_HEX);
	nonce_hex[TICKET_NONCE_HEX] = '\0';
	/* expired, or from further ahead than a proxy's clock may be */
	if (expiry < (long long)now - PROXYTICKET_SKEW_SECS ||
	    expiry > (long long)now + PROXYTICKET_SECS + PROXYTICKET_SKEW_SECS)
		return false;
	if (ticket_mac(key, user, expiry, nonce_hex, mac_hex) < 0 ||
	    CRYPTO_memcmp(mac_hex, colon + 1, TICKET_MAC_HEX) != 0)
		return false;
	return ticket_first_use(nonce, (time_t)expiry + PROXYTICKET_SKEW_SECS,
				now);
}
