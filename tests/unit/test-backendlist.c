/* test-backendlist.c: proxy_backends parsing, the stable SHA-256 pick
 * and the loop guard (net/backendlist.c). */
#include <stdio.h>
#include <string.h>

#include "net/backendlist.h"
#include "unit.h"

int main(void)
{
	struct backendlist bl;
	const struct backend_addr *a, *b;
	const char *error;
	unsigned hits[2] = { 0, 0 };
	char user[32];

	CHECK(backendlist_parse("127.0.0.2:110,[::1]:1110", &bl, &error) == 0 &&
	      bl.count == 2, "two backends parsed");
	CHECK(backendlist_parse("mail.example:110", &bl, &error) < 0,
	      "a host name is refused (no DNS on the loop)");
	CHECK(backendlist_parse("127.0.0.2", &bl, &error) < 0,
	      "a missing port is refused");
	CHECK(backendlist_parse("", &bl, &error) == 0 && bl.count == 0 &&
	      backendlist_pick(&bl, "x") == NULL, "empty list: no pick");

	(void)backendlist_parse("127.0.0.2:110,127.0.0.3:110", &bl, &error);
	a = backendlist_pick(&bl, "alice");
	b = backendlist_pick(&bl, "alice");
	CHECK(a != NULL && a == b, "the pick is stable");
	/* SHA-256("alice") begins 2bd806c97f0e00af: odd, the second */
	CHECK_STR(a->text, "127.0.0.3:110", "alice by SHA-256 mod 2");
	for (int i = 0; i < 200; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		hits[backendlist_pick(&bl, user) - bl.addr]++;
	}
	CHECK(hits[0] > 60 && hits[1] > 60, "users spread over both");

	CHECK(backendlist_overlaps(&bl, "127.0.0.3:110"),
	      "loop guard: our own address");
	CHECK(backendlist_overlaps(&bl, "0.0.0.0:110"),
	      "loop guard: a wildcard listener on the port");
	CHECK(!backendlist_overlaps(&bl, "127.0.0.1:110,127.0.0.3:1110"),
	      "no overlap with other addresses");
	return unit_done();
}
