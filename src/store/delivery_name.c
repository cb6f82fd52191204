/* delivery_name.c: unique Maildir file names (delivery_name.h). */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/delivery_name.h"
#include "store/delivery_private.h"

/* Module-global: the per-process counter of the names made, atomic (an
 * LMTP worker may deliver from several job threads). A forked child
 * inherits it, but has another pid. */
static unsigned delivery_name_counter;

/* Appends the sanitised host to out (len used of size, at most room
 * octets of it), never cutting an escape. Returns the new length. */
static size_t delivery_name_host(const char *host, char *out, size_t len,
				 size_t room)
{
	size_t i;

	for (i = 0; host[i] != '\0'; i++) {
		unsigned char c = (unsigned char)host[i];
		char esc[5];
		size_t n = 1;

		if (c == '/' || c == ':' || c == ',') {
			snprintf(esc, sizeof(esc), "\\%03o", c);
			n = 4;
		} else {
			esc[0] = c < 0x21 || c > 0x7e ? '_' : (char)c;
		}
		if (n > room)
			break;
		memcpy(out + len, esc, n);
		len += n;
		room -= n;
	}
	return len;
}

int delivery_name_make(const char *hostname, const char *key, uint64_t size,
		       uint64_t wsize, char *out, size_t out_size)
{
	char host[256], head[96], tail[64];
	struct timespec now;
	unsigned short rnd = 0;
	unsigned counter;
	size_t len;
	int hl, tl;

	if (out_size <= DELIVERY_NAME_MAX)
		return -1;
	if (hostname == NULL || hostname[0] == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		hostname = host;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned short)(now.tv_nsec ^ getpid());
	/* the counter wraps at 5 digits: time and pid keep names apart */
	counter = __atomic_add_fetch(&delivery_name_counter, 1,
				     __ATOMIC_RELAXED) % 100000;
	if (key != NULL && key[0] != '\0')
		hl = snprintf(head, sizeof(head), "%lld.M%06ldP%ldQ%uK%.*s",
			      (long long)now.tv_sec, now.tv_nsec / 1000,
			      (long)getpid(), counter, DELIVERY_KEY_MAX, key);
	else
		hl = snprintf(head, sizeof(head), "%lld.M%06ldP%ldQ%uR%04x",
			      (long long)now.tv_sec, now.tv_nsec / 1000,
			      (long)getpid(), counter, rnd);
	tl = snprintf(tail, sizeof(tail), ",S=%llu,W=%llu",
		      (unsigned long long)size, (unsigned long long)wsize);
	if (hl < 0 || tl < 0)
		return -1;
	memcpy(out, head, (size_t)hl);
	len = (size_t)hl;
	if ((size_t)(hl + tl) + 2 <= DELIVERY_NAME_MAX) {
		out[len++] = '.';
		len = delivery_name_host(hostname, out, len,
					 DELIVERY_NAME_MAX - len - (size_t)tl);
	}
	if (len + (size_t)tl >= out_size)
		return -1;
	memcpy(out + len, tail, (size_t)tl + 1);
	return 0;
}
