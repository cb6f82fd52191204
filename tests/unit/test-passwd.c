/* test-passwd.c: passwd-file parsing (fields, extra fields, comments,
 * duplicates, hostile lines) and lookup, including a 50,000-user load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "store/msgconv.h"
#include "unit.h"

static char tmpdir[] = "/tmp/test-passwd.XXXXXX";

/* Writes len octets of text to a file in tmpdir and returns its path. */
static const char *write_file(const char *name, const char *text,
			      size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static int parse(const char *text, struct passwd_entry *e,
		 const char **error_r)
{
	static char line[8192];

	snprintf(line, sizeof(line), "%s", text);
	*error_r = NULL;
	return passwd_parse_line(line, e, error_r);
}

static void test_parse_fields(void)
{
	struct passwd_entry e;
	const char *error;

	CHECK(parse("alice:{PLAIN}pw", &e, &error) == 0, "two fields");
	CHECK_STR(e.user, "alice", "user");
	CHECK_STR(e.password, "{PLAIN}pw", "password");
	CHECK(e.uid == -1 && e.gid == -1, "uid/gid unset");
	CHECK(e.home == NULL && e.mail == NULL, "home/mail unset");
	CHECK(e.expire_days == -1 && e.login_delay == -1, "extras unset");
	CHECK(e.quota_bytes == -1 && e.quota_messages == -1, "quota unset");
	CHECK(e.workarounds == -1, "client_workarounds unset");
	CHECK(!e.disabled, "not disabled");

	CHECK(parse("bob@example.org:$y$j9T$abc:1001:1002:Bob B:/home/bob:"
		    "/bin/false:mail=maildir:~/Mail expire=30 "
		    "userdb_login_delay=60 quota_rule=*:storage=1G\r\n",
		    &e, &error) == 0, "all fields");
	CHECK_STR(e.user, "bob@example.org", "full user");
	CHECK_STR(e.password, "$y$j9T$abc", "bare crypt password");
	CHECK(e.uid == 1001 && e.gid == 1002, "uid/gid");
	CHECK_STR(e.home, "/home/bob", "home");
	CHECK_STR(e.mail, "maildir:~/Mail", "mail with ':' kept");
	CHECK(e.expire_days == 30, "expire");
	CHECK(e.login_delay == 60, "userdb_login_delay");
	CHECK(e.quota_bytes == -1, "Dovecot's quota_rule is not ours");

	CHECK(parse("p:{PLAIN}x::::::proxy_host=[::1]:1110", &e, &error) == 0,
	      "proxy_host");
	CHECK_STR(e.proxy_host, "[::1]:1110", "proxy_host kept");
	CHECK(parse("q:{PLAIN}x:1:1::/h::quota_bytes=10737418240 "
		    "userdb_quota_messages=0", &e, &error) == 0 &&
	      e.quota_bytes == 10737418240LL && e.quota_messages == 0,
	      "quota_bytes past 32 bits, quota_messages 0 (none)");
	CHECK(parse("w:{PLAIN}x::::::client_workarounds=oe-ns-eoh,"
		    "outlook-no-nuls", &e, &error) == 0 &&
	      e.workarounds == (MSGCONV_ADD_EOH | MSGCONV_NO_NULS),
	      "client_workarounds=");
	CHECK(parse("w:{PLAIN}x::::::userdb_client_workarounds=none", &e,
		    &error) == 0 && e.workarounds == 0,
	      "client_workarounds=none: none even with a global one");

	CHECK(parse("c:{PLAIN}x::::::userdb_mail=mbox:/var/mail/c", &e,
		    &error) == 0, "empty middle fields");
	CHECK_STR(e.mail, "mbox:/var/mail/c", "userdb_mail");
	CHECK(e.uid == -1 && e.home == NULL, "empty fields unset");

	CHECK(parse("d:{PLAIN}x::::::nologin", &e, &error) == 0 &&
	      e.disabled, "nologin disables");
	CHECK(parse("d:{PLAIN}x::::::allow_nets=10.0.0.0/8", &e,
		    &error) == 0 && e.disabled, "allow_nets disables");
	CHECK(parse("d:{PLAIN}x::::::nopassword=y foo", &e, &error) == 0 &&
	      !e.disabled, "other keys ignored");
	CHECK(parse("e:", &e, &error) == 0 && e.password[0] == '\0',
	      "empty password field parses");
	CHECK(parse("f:{PLAIN}x:4294967294:0", &e, &error) == 0 &&
	      e.uid == 4294967294LL && e.gid == 0, "largest uid, gid 0");
}

static void test_parse_skip(void)
{
	struct passwd_entry e;
	const char *error;

	CHECK(parse("", &e, &error) == 1, "empty line");
	CHECK(parse("   \t  ", &e, &error) == 1, "blank line");
	CHECK(parse("# comment:with:colons", &e, &error) == 1, "comment");
	CHECK(parse("  # indented comment", &e, &error) == 1,
	      "indented comment");
	CHECK(parse("\r\n", &e, &error) == 1, "CRLF only");
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
		"alice",                        /* no password field */
		":{PLAIN}x",                    /* empty user */
		"al ice:{PLAIN}x",              /* blank in user */
		"al\x01ice:{PLAIN}x",           /* control byte */
		"a:{PLAIN}x:-1",                /* negative uid */
		"a:{PLAIN}x:+5",                /* sign */
		"a:{PLAIN}x: 5",                /* blank */
		"a:{PLAIN}x:5x",                /* junk */
		"a:{PLAIN}x:4294967295",        /* (uid_t)-1 */
		"a:{PLAIN}x:99999999999999999999999", /* overflow */
		"a:{PLAIN}x:1:0x10",            /* hex gid */
		"a:{PLAIN}x:1:1::home/a",       /* relative home */
		"a:{PLAIN}x:1:1::/h::expire=soon",
		"a:{PLAIN}x:1:1::/h::expire=",
		"a:{PLAIN}x:1:1::/h::login_delay=-3",
		"a:{PLAIN}x:1:1::/h::login_delay=2147483648",
		"a:{PLAIN}x:1:1::/h::mail=",
		"a:{PLAIN}x:1:1::/h::quota_bytes=1G",
		"a:{PLAIN}x:1:1::/h::client_workarounds=outlook",
		"a:{PLAIN}x:1:1::/h::quota_bytes=-1",
		"a:{PLAIN}x:1:1::/h::quota_messages=",
		"a:{PLAIN}x:1:1::/h::quota_messages=9223372036854775808",
		"a:{PLAIN}x:1:1::/h:::mail=maildir:/m", /* one ':' too many */
		"a:{PLAIN}x:1:1::/h::proxy_host=backend.example:110",
		"a:{PLAIN}x:1:1::/h::proxy_host=10.0.0.1:110,10.0.0.2:110",
	};
	struct passwd_entry e;
	const char *error;
	char label[128], user[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(label, sizeof(label), "rejects bad line %zu", i);
		CHECK(parse(bad[i], &e, &error) == -1 && error != NULL, label);
	}
	memset(user, 'u', 256);
	strcpy(user + 256, ":{PLAIN}x");
	CHECK(parse(user, &e, &error) == -1, "256-octet user refused");
	strcpy(user + 255, ":{PLAIN}x");
	CHECK(parse(user, &e, &error) == 0, "255-octet user accepted");
}

static void test_load(void)
{
	static const char text[] =
		"# satchel users\n"
		"\n"
		"zed:{PLAIN}z\n"
		"alice:{PLAIN}a:1000:1000::/home/alice::mail=maildir:~/M\n"
		"bob@example.org:{CRYPT}$6$x$y:1001:1001\r\n"
		"carol:{PLAIN}c"; /* no final newline */
	struct passwd_db *db = NULL;
	const struct passwd_entry *e;
	const char *path;
	char err[256];

	path = write_file("ok", text, sizeof(text) - 1);
	CHECK(passwd_db_load(path, &db, err, sizeof(err)) == 0, "load");
	CHECK(passwd_db_count(db) == 4, "4 users");
	e = passwd_db_lookup(db, "alice");
	CHECK(e != NULL && e->uid == 1000 && strcmp(e->home, "/home/alice")
	      == 0 && strcmp(e->mail, "maildir:~/M") == 0, "lookup alice");
	e = passwd_db_lookup(db, "bob@example.org");
	CHECK(e != NULL && strcmp(e->password, "{CRYPT}$6$x$y") == 0,
	      "lookup bob, CR stripped");
	CHECK(passwd_db_lookup(db, "carol") != NULL, "last line, no LF");
	CHECK(passwd_db_lookup(db, "zed") != NULL, "first user");
	CHECK(passwd_db_lookup(db, "Alice") == NULL, "case-sensitive");
	CHECK(passwd_db_lookup(db, "bob") == NULL, "no prefix match");
	CHECK(passwd_db_lookup(db, "") == NULL, "empty name");
	CHECK(passwd_db_entry(db, 0) != NULL &&
	      strcmp(passwd_db_entry(db, 0)->user, "alice") == 0 &&
	      passwd_db_entry(db, 4) == NULL, "entries in name order");
	passwd_db_destroy(&db);
	CHECK(db == NULL, "destroy clears the pointer");
	passwd_db_destroy(&db);

	path = write_file("empty", "", 0);
	CHECK(passwd_db_load(path, &db, err, sizeof(err)) == 0 &&
	      passwd_db_count(db) == 0 &&
	      passwd_db_lookup(db, "x") == NULL, "empty file");
	passwd_db_destroy(&db);
}

static void check_load_fails(const char *name, const char *text,
			     size_t len, const char *want_err)
{
	struct passwd_db *db = NULL;
	char err[256] = "", label[512];
	const char *path = write_file(name, text, len);
	int ret = passwd_db_load(path, &db, err, sizeof(err));

	snprintf(label, sizeof(label), "load fails: %s", name);
	CHECK(ret == -1 && db == NULL, label);
	snprintf(label, sizeof(label), "error names it: %s (%s)", name, err);
	CHECK(strstr(err, want_err) != NULL, label);
}

static void test_load_errors(void)
{
	static const char dup[] = "a:{PLAIN}1\nb:{PLAIN}2\n#\na:{PLAIN}3\n";
	static const char nul[] = "a:{PLAIN}1\nb:{PL\0AIN}2\n";
	static const char bad[] = "a:{PLAIN}1\n\nb:{PLAIN}2:x\n";
	struct passwd_db *db = NULL;
	char err[256], *big;
	size_t n = PASSWD_LINE_MAX + 100;

	check_load_fails("dup", dup, sizeof(dup) - 1, ":4: duplicate user "
			 "(also on line 1)");
	check_load_fails("nul", nul, sizeof(nul) - 1, ":2: NUL byte");
	check_load_fails("bad", bad, sizeof(bad) - 1, ":3: bad uid");

	big = malloc(n);
	memset(big, 'x', n);
	memcpy(big, "ok:{PLAIN}1\nlong:", 17);
	check_load_fails("long", big, n, ":2: line longer than");
	/* a line exactly at the limit is fine */
	memset(big, 'x', n);
	memcpy(big, "a:", 2);
	big[PASSWD_LINE_MAX] = '\n';
	write_file("limit", big, PASSWD_LINE_MAX + 1);
	CHECK(passwd_db_load(write_file("limit", big, PASSWD_LINE_MAX + 1),
			     &db, err, sizeof(err)) == 0,
	      "line of PASSWD_LINE_MAX octets loads");
	passwd_db_destroy(&db);
	free(big);

	CHECK(passwd_db_load("/nonexistent/passwd", &db, err,
			     sizeof(err)) == -1 &&
	      strstr(err, "/nonexistent/passwd") != NULL, "missing file");
	CHECK(passwd_db_load(tmpdir, &db, err, sizeof(err)) == -1 &&
	      strstr(err, "not a regular file") != NULL, "directory");
}

static void test_big(void)
{
	struct passwd_db *db = NULL;
	const struct passwd_entry *e;
	char err[256], path[256], name[64];
	struct timespec t0, t1;
	unsigned i, found = 0;
	double ms;
	FILE *f;

	snprintf(path, sizeof(path), "%s/big", tmpdir);
	f = fopen(path, "w");
	/* reverse order so the sort has work to do */
	for (i = 50000; i > 0; i--) {
		fprintf(f, "user%u@example.org:{CRYPT}$y$j9T$/QyXeSaQ78A/Job"
			"KMND5v.$rleBJNv0mc2E7JaJ5ldMbpZEBCk9Udxzmc2soZHydKB:"
			"%u:%u::/home/u%u::mail=maildir:~/Maildir\n",
			i, 10000 + i, 10000 + i, i);
	}
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(passwd_db_load(path, &db, err, sizeof(err)) == 0,
	      "load 50,000 users");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("# 50,000 users loaded in %.1f ms\n", ms);
	CHECK(ms < 1000, "50,000 users load in under a second");
	CHECK(passwd_db_count(db) == 50000, "50,000 users counted");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i <= 50000; i++) {
		snprintf(name, sizeof(name), "user%u@example.org", i);
		e = passwd_db_lookup(db, name);
		if (e != NULL && e->uid == 10000 + i)
			found++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("# 50,000 lookups in %.1f ms\n", ms);
	CHECK(found == 50000, "every user found");
	CHECK(passwd_db_lookup(db, "user50001@example.org") == NULL,
	      "absent user");
	passwd_db_destroy(&db);
	unlink(path);
}

/* The line iterator: raw lines, endings, field spans and parse results,
 * bad lines included. */
static void test_iter(void)
{
	static const char text[] =
		"# c\n"
		"alice:{PLAIN}a:1:2:G:/h:/s:mail=maildir:~/M secret={X}y\r\n"
		"no colon here\n"
		"bob:{PLAIN}b:bad\n"
		"\n"
		"carol:{PLAIN}c";
	struct passwd_iter it;
	struct passwd_line l;
	unsigned n = 0;
	bool ok;

	passwd_iter_init(&it, text, sizeof(text) - 1);
	ok = passwd_iter_next(&it, &l);
	CHECK(ok && l.kind == PASSWD_LINE_SKIP && l.lineno == 1 &&
	      l.len == 3 && l.ending_len == 1, "iter: comment");
	ok = passwd_iter_next(&it, &l);
	CHECK(ok && l.kind == PASSWD_LINE_USER && l.n_fields == 8 &&
	      strcmp(l.entry.user, "alice") == 0 &&
	      strcmp(l.entry.mail, "maildir:~/M") == 0 &&
	      l.entry.n_secrets == 1, "iter: a record with its entry");
	CHECK(ok && l.ending_len == 2 && memcmp(l.ending, "\r\n", 2) == 0 &&
	      l.raw[l.len - 1] == 'y', "iter: CRLF is the ending, not raw");
	CHECK(ok && l.fields[1].len == 8 &&
	      memcmp(l.raw + l.fields[1].off, "{PLAIN}a", 8) == 0 &&
	      memcmp(l.raw + l.fields[7].off, "mail=maildir:~/M secret={X}y",
		     l.fields[7].len) == 0 && l.fields[7].len == 28,
	      "iter: field spans; the extra fields keep their ':'");
	ok = passwd_iter_next(&it, &l);
	CHECK(ok && l.kind == PASSWD_LINE_BAD && l.n_fields == 1 &&
	      l.error != NULL, "iter: a line without ':' is bad, kept raw");
	ok = passwd_iter_next(&it, &l);
	CHECK(ok && l.kind == PASSWD_LINE_BAD && l.n_fields == 3 &&
	      l.fields[0].len == 3 && memcmp(l.raw, "bob", 3) == 0,
	      "iter: a bad record still shows its user field");
	ok = passwd_iter_next(&it, &l) && passwd_iter_next(&it, &l);
	CHECK(ok && l.kind == PASSWD_LINE_USER && l.ending_len == 0 &&
	      strcmp(l.entry.user, "carol") == 0 && l.lineno == 6,
	      "iter: a last line without LF");
	while (passwd_iter_next(&it, &l))
		n++;
	CHECK(n == 0, "iter: nothing after the end");
	passwd_iter_deinit(&it);
	CHECK(passwd_extra_is_secret("secret={X}y", 11) &&
	      passwd_extra_is_secret("userdb_secret={X}y", 18) &&
	      !passwd_extra_is_secret("secretx={X}", 11) &&
	      !passwd_extra_is_secret("mail=x", 6),
	      "iter: which extra fields are secrets");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"ok", "empty", "dup", "nul", "bad", "long", "limit"
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_parse_fields();
	test_parse_skip();
	test_parse_errors();
	test_load();
	test_load_errors();
	test_big();
	test_iter();
	cleanup();
	return unit_done();
}
