/* test-proxyticket.c: proxy tickets (auth/proxyticket.h): a minted
 * ticket is taken once, for its user, while it is good; a changed one,
 * another key's, an expired one and one from too far ahead are not. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/proxyticket.h"
#include "unit.h"

static void key_of(struct proxyticket_key *key, char fill)
{
	memset(key, 0, sizeof(*key));
	memset(key->octets, fill, 32);
	key->len = 32;
}

int main(void)
{
	struct proxyticket_key key, other;
	char t[PROXYTICKET_MAX], t2[PROXYTICKET_MAX], dir[] =
		"/tmp/satchel-ticket-XXXXXX", path[300];
	const char *error = NULL;
	time_t now = 1800000000;
	int fd;

	key_of(&key, 'k');
	key_of(&other, 'o');
	CHECK(proxyticket_mint(&key, "alice", now, t, sizeof(t)) == 0,
	      "mint");
	CHECK(proxyticket_is_ticket(t) && !proxyticket_is_ticket("secret"),
	      "a ticket looks like one, a password does not");
	CHECK(!proxyticket_accept(&key, "bob", t, now), "not for another user");
	CHECK(!proxyticket_accept(&other, "alice", t, now),
	      "not under another key");
	snprintf(t2, sizeof(t2), "%s", t);
	t2[strlen(t2) - 1] = t2[strlen(t2) - 1] == '0' ? '1' : '0';
	CHECK(!proxyticket_accept(&key, "alice", t2, now), "a changed MAC");
	CHECK(!proxyticket_accept(&key, "alice", t,
				  now + PROXYTICKET_SECS +
					  PROXYTICKET_SKEW_SECS + 1),
	      "expired");
	CHECK(!proxyticket_accept(&key, "alice", t,
				  now - PROXYTICKET_SKEW_SECS - 1),
	      "from too far ahead of this clock");
	CHECK(proxyticket_accept(&key, "alice", t, now), "taken");
	CHECK(!proxyticket_accept(&key, "alice", t, now + 1), "taken once");
	CHECK(proxyticket_mint(&key, "alice", now, t2, sizeof(t2)) == 0 &&
	      strcmp(t, t2) != 0 && proxyticket_accept(&key, "alice", t2, now),
	      "a second ticket is another one, and good");
	CHECK(proxyticket_mint(&key, "alice", now, t2, 40) < 0,
	      "mint into too small a buffer fails");
	CHECK(!proxyticket_accept(&key, "alice", "satchel-ticket:1:", now) &&
	      !proxyticket_accept(&key, "alice", "satchel-ticket:1:x:y:z", now),
	      "malformed");

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/key", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, "0123456789abcdef0123456789abcdef", 32) != 32)
		abort();
	close(fd);
	CHECK(proxyticket_key_load(path, &other, &error) == 0 &&
	      other.len == 32, "a 32-octet key file of mode 0600");
	chmod(path, 0640);
	CHECK(proxyticket_key_load(path, &other, &error) < 0 &&
	      other.len == 0, "a group-readable key file is refused");
	unlink(path);
	rmdir(dir);
	return unit_done();
}
