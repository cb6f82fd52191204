/* test-usercache.c: the user cache of the database drivers
 * (auth/usercache.h): TTLs, stale use, the per-kind bounds, drops, and
 * the row mapping it stores (auth/userdb_sqlrow.h). */
#include <stdlib.h>
#include <string.h>

#include "auth/usercache.h"
#include "auth/userdb_sqlrow.h"
#include "unit.h"

static struct sqlrow_record *record(const char *user, const char *password)
{
	struct sqlrow_line l;
	struct sqlrow_record *r;
	const char *error;

	memset(&l, 0, sizeof(l));
	sqlrow_column(&l, "password", password, strlen(password));
	sqlrow_column(&l, "uid", "1000", 4);
	r = sqlrow_record_make(&l, user, "test", &error);
	sqlrow_line_wipe(&l);
	return r;
}

static void test_ttl_and_stale(void)
{
	struct usercache_settings set = { 1000, 200, 5000, 10 };
	struct usercache *c = usercache_create(&set);
	const struct sqlrow_record *r;
	uint64_t age;

	CHECK(c != NULL, "cache created");
	CHECK(usercache_find(c, "joe", 0, &r, &age) == USERCACHE_MISS,
	      "empty: miss");
	CHECK(usercache_put(c, "joe", record("joe", "{PLAIN}x"), 100) == 0,
	      "put joe");
	CHECK(usercache_find(c, "joe", 500, &r, &age) == USERCACHE_FRESH &&
	      r != NULL && strcmp(r->entry.password, "{PLAIN}x") == 0 &&
	      r->entry.uid == 1000 && age == 400, "fresh within the TTL");
	CHECK(usercache_find(c, "joe", 1100, &r, &age) == USERCACHE_EXPIRED &&
	      r != NULL && age == 1000, "expired at the TTL, still held");
	CHECK(usercache_find(c, "joe", 6099, &r, &age) == USERCACHE_EXPIRED,
	      "stale until TTL + stale_max");
	CHECK(usercache_find(c, "joe", 6100, &r, &age) == USERCACHE_MISS &&
	      r == NULL, "gone after TTL + stale_max");
	CHECK(usercache_put(c, "nobody", NULL, 100) == 0, "put a negative");
	CHECK(usercache_find(c, "nobody", 250, &r, &age) == USERCACHE_FRESH &&
	      r == NULL, "negative fresh: no record");
	CHECK(usercache_find(c, "nobody", 300, &r, &age) == USERCACHE_EXPIRED,
	      "negative TTL is its own");
	/* a new answer replaces the old one and restarts the TTL */
	CHECK(usercache_put(c, "joe", record("joe", "{PLAIN}y"), 2000) == 0,
	      "replace joe");
	CHECK(usercache_find(c, "joe", 2500, &r, &age) == USERCACHE_FRESH &&
	      strcmp(r->entry.password, "{PLAIN}y") == 0,
	      "the new password, fresh");
	CHECK(usercache_count(c, true) == 1 && usercache_count(c, false) == 1,
	      "one of each kind");
	usercache_expire_all(c, 2600);
	CHECK(usercache_find(c, "joe", 2600, &r, &age) == USERCACHE_EXPIRED &&
	      r != NULL, "expire_all keeps the entry for stale use");
	usercache_drop(c, "joe");
	CHECK(usercache_find(c, "joe", 2600, &r, &age) == USERCACHE_MISS,
	      "dropped");
	usercache_clear(c);
	CHECK(usercache_count(c, false) == 0, "cleared");
	usercache_destroy(&c);
	CHECK(c == NULL, "destroy clears the pointer");
}

static void test_bounds(void)
{
	struct usercache_settings set = { 1000, 1000, 0, 4 };
	struct usercache *c = usercache_create(&set);
	const struct sqlrow_record *r;
	char name[32];
	uint64_t age;
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		usercache_put(c, name, record(name, "{PLAIN}p"), (uint64_t)i);
	}
	/* a flood of unknown names */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "probe%d", i);
		usercache_put(c, name, NULL, 10);
	}
	CHECK(usercache_count(c, false) == 4, "negatives bounded");
	CHECK(usercache_count(c, true) == 4, "positives kept by the flood");
	CHECK(usercache_find(c, "user0", 20, &r, &age) == USERCACHE_FRESH,
	      "the oldest real user is still there");
	CHECK(usercache_find(c, "probe999", 20, &r, &age) == USERCACHE_FRESH,
	      "the newest negative is there");
	CHECK(usercache_find(c, "probe0", 20, &r, &age) == USERCACHE_MISS,
	      "the oldest negative went first");
	usercache_put(c, "user4", record("user4", "{PLAIN}p"), 30);
	CHECK(usercache_find(c, "user0", 30, &r, &age) == USERCACHE_MISS &&
	      usercache_find(c, "user1", 30, &r, &age) == USERCACHE_FRESH,
	      "the oldest positive goes first");
	CHECK(usercache_find(c, "user4", 1029, &r, &age) == USERCACHE_FRESH &&
	      usercache_find(c, "user4", 1030, &r, &age) == USERCACHE_MISS,
	      "stale_max 0: no stale use");
	usercache_destroy(&c);
}

static void test_rows(void)
{
	struct sqlrow_line l;
	struct sqlrow_record *r;
	const char *error, *values[SQLROW_PARAMS];
	char sql[128];
	int lens[SQLROW_PARAMS];

	CHECK(sqlrow_template("SELECT 1 WHERE u = %u AND n = %n AND d = %d "
			      "AND x LIKE 'a%%'", SQLROW_DOLLAR, sql,
			      sizeof(sql), &error) == 0, "template");
	CHECK_STR(sql, "SELECT 1 WHERE u = $1 AND n = $2 AND d = $3 AND x "
		  "LIKE 'a%'", "%u %n %d as $1 $2 $3");
	CHECK(sqlrow_template("WHERE u = '%s'", SQLROW_DOLLAR, sql,
			      sizeof(sql), &error) < 0, "%s refused");
	sqlrow_params("joe@a.example", values, lens);
	CHECK(lens[1] == 3 && strncmp(values[1], "joe", 3) == 0 &&
	      strcmp(values[2], "a.example") == 0, "%n and %d");
	memset(&l, 0, sizeof(l));
	sqlrow_column(&l, "user", "mallory", 7);
	sqlrow_column(&l, "password", "{PLAIN}x", 8);
	r = sqlrow_record_make(&l, "joe", "test", &error);
	CHECK(r == NULL, "a row naming another user is refused");
	memset(&l, 0, sizeof(l));
	sqlrow_column(&l, "password", "{PLAIN}x", 8);
	sqlrow_column(&l, "home", "/home/a:b", 9);
	CHECK(sqlrow_record_make(&l, "joe", "test", &error) == NULL,
	      "a ':' in home is refused");
	memset(&l, 0, sizeof(l));
	sqlrow_column(&l, "password", "{PLAIN}x", 8);
	sqlrow_column(&l, "mail", "maildir:~/Maildir", 17);
	sqlrow_column(&l, "quota_bytes", "1000", 4);
	sqlrow_column(&l, "other", "ignored", 7);
	sqlrow_column(&l, "home", NULL, 0);
	r = sqlrow_record_make(&l, "joe", "test", &error);
	CHECK(r != NULL && strcmp(r->entry.user, "joe") == 0 &&
	      strcmp(r->entry.mail, "maildir:~/Maildir") == 0 &&
	      r->entry.quota_bytes == 1000 && r->entry.home == NULL,
	      "columns by name, NULL is unset, user from the name");
	sqlrow_record_free(&r);
	CHECK(r == NULL, "record freed");
	sqlrow_line_wipe(&l);
}

int main(void)
{
	test_ttl_and_stale();
	test_bounds();
	test_rows();
	return unit_done();
}
