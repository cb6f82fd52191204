/* test-password.c: every password scheme accepts the right password and
 * rejects wrong ones; APOP against RFC 1939's example; timings. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "unit.h"

/* Computed beforehand with `openssl passwd -6|-5|-1 -salt saltsalt
 * 'correct horse'`; the yescrypt and bcrypt ones with crypt_gensalt_rn()
 * at libxcrypt's default cost and crypt_r(). */
#define PW "correct horse"
#define SHA512 "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7" \
	       "mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0"
#define SHA256 "$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/"
#define MD5CRYPT "$1$saltsalt$NuzA7WTAelpl95xgBGWN60"
#define YESCRYPT "$y$j9T$/QyXeSaQ78A/JobKMND5v.$rleBJNv0mc2E7JaJ5ldMbpZEBCk9" \
		 "Udxzmc2soZHydKB"
#define BCRYPT "$2b$05$v5pyRiSCj087rLfy/tuABu3FWNGD.AlPSAHq1rsoFMplA8LcTXTOq"
/* Drepper's SHA-crypt specification, test vector 1 */
#define DREPPER "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uB" \
		"nIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void check_scheme(const char *stored, const char *name)
{
	char label[128];

	snprintf(label, sizeof(label), "%s: right password", name);
	CHECK(password_verify(stored, PW), label);
	snprintf(label, sizeof(label), "%s: wrong password", name);
	CHECK(!password_verify(stored, "correct horsE"), label);
	snprintf(label, sizeof(label), "%s: empty password", name);
	CHECK(!password_verify(stored, ""), label);
	snprintf(label, sizeof(label), "%s: prefix of password", name);
	CHECK(!password_verify(stored, "correct"), label);
	snprintf(label, sizeof(label), "%s: scheme known", name);
	CHECK(password_scheme_known(stored), label);
}

static void time_verify(const char *stored, const char *name)
{
	double t0 = now_ms();
	int i, n = 5;

	for (i = 0; i < n; i++)
		(void)password_verify(stored, PW);
	printf("# %-14s %9.4f ms per verification\n", name,
	       (now_ms() - t0) / n);
}

static void test_schemes(void)
{
	check_scheme("{PLAIN}" PW, "{PLAIN}");
	check_scheme("{CLEAR}" PW, "{CLEAR}");
	check_scheme("{CLEARTEXT}" PW, "{CLEARTEXT}");
	check_scheme("{plain}" PW, "{plain} (case)");
	check_scheme("{SHA512-CRYPT}" SHA512, "{SHA512-CRYPT}");
	check_scheme("{CRYPT}" SHA512, "{CRYPT} sha512");
	check_scheme(SHA512, "bare $6$");
	check_scheme("{SHA256-CRYPT}" SHA256, "{SHA256-CRYPT}");
	check_scheme("{MD5-CRYPT}" MD5CRYPT, "{MD5-CRYPT}");
	check_scheme("{CRYPT}" YESCRYPT, "{CRYPT} yescrypt");
	check_scheme(YESCRYPT, "bare $y$");
	check_scheme("{BLF-CRYPT}" BCRYPT, "{BLF-CRYPT}");
	check_scheme("{CRYPT}" BCRYPT, "{CRYPT} bcrypt");

	/* salted SHA: slappasswd's output, and salts of other lengths
	 * (one with NUL and 0xff octets) made with Python's hashlib */
	check_scheme("{SSHA}64Qr047vKH+tH9Je/ATNJw8rDBXIj63E",
		     "{SSHA} slappasswd");
	check_scheme("{ssha}rz7oanCxwi0VvZxe0ENPl4i4THRhYg==",
		     "{SSHA} 2-octet salt, lower case");
	check_scheme("{SSHA256}YflVcOMs6k7tbGkQbQNVn6/ehAnUAVltiLPKHBWGi2tz"
		     "YWx0c2FsdA==", "{SSHA256}");
	check_scheme("{SSHA512}nr/LD3eJnwQ6U+BDTEhxb3BieCdeDx6MWG4GgPse/aUn"
		     "VNQuBVWgoHJ+HYuH7K8/v2MpCgoXyDH+u7yCHaWwNgAB/xA=",
		     "{SSHA512} salt with NUL and 0xff");

	CHECK(password_verify(DREPPER, "Hello world!"), "Drepper vector");
	CHECK(!password_verify(DREPPER, "Hello world"), "Drepper wrong");

	/* plaintext: exact, case-sensitive, no prefix/suffix matches */
	CHECK(!password_verify("{PLAIN}" PW, PW " "), "plain: longer");
	CHECK(!password_verify("{PLAIN}", "x"), "plain: empty secret");
	CHECK(password_verify("{PLAIN}", ""), "plain: empty matches empty");
}

static void test_rejects(void)
{
	CHECK(!password_scheme_known("{MD5}abc"), "unknown scheme");
	CHECK(!password_verify("{MD5}abc", "abc"), "unknown never matches");
	CHECK(!password_scheme_known("plain"), "no braces, no $");
	CHECK(!password_verify(PW, PW), "no scheme never matches");
	CHECK(!password_scheme_known("{PLAIN"), "unterminated brace");
	CHECK(!password_verify("{PLAIN" PW, PW), "unterminated brace fails");
	CHECK(!password_scheme_known(""), "empty stored");
	CHECK(!password_verify("", ""), "empty stored never matches");
	/* named schemes insist on their prefix: no DES fallback */
	CHECK(!password_scheme_known("{SHA512-CRYPT}" SHA256),
	      "SHA512-CRYPT with a $5$ hash");
	CHECK(!password_verify("{SHA512-CRYPT}saSxXmZ6dN6cA", "x"),
	      "SHA512-CRYPT with a DES hash");
	CHECK(!password_verify("{BLF-CRYPT}" SHA512, PW),
	      "BLF-CRYPT with a $6$ hash");
	CHECK(!password_verify("{CRYPT}", ""), "{CRYPT} empty hash");
	CHECK(!password_verify("{CRYPT}*0", "*0"), "{CRYPT} failure token");
	CHECK(!password_verify("$6$saltsalt$garbage", PW), "damaged hash");
	CHECK(!password_verify("$", ""), "lone $");
	/* salted SHA: no salt (the bare digest), bad base64, a digest
	 * of another size */
	CHECK(!password_scheme_known("{SSHA}x4iG4PASrjvWv6r8Jv2z8qdRGTo="),
	      "{SSHA} without salt");
	CHECK(!password_scheme_known("{SSHA}64Qr047vKH+tH9Je/ATNJw8rDBXIj63"),
	      "{SSHA} base64 cut short");
	CHECK(!password_scheme_known("{SSHA}64Qr047v*H+tH9Je/ATNJw8rDBXIj63E"),
	      "{SSHA} not base64");
	CHECK(!password_scheme_known("{SSHA}"), "{SSHA} empty");
	CHECK(!password_verify("{SSHA512}64Qr047vKH+tH9Je/ATNJw8rDBXIj63E", PW),
	      "{SSHA512} holding a SHA-1 digest");
	CHECK(!password_verify("{SSHA256}64Qr047vKH+tH9Je/ATNJw8rDBXIj63E", PW),
	      "{SSHA256} holding a SHA-1 digest");
}

static void test_apop(void)
{
	const char *ts = "<1896.697170952@dbc.mtview.ca.us>";

	/* RFC 1939 7. */
	CHECK(password_verify_apop("{PLAIN}tanstaaf", ts,
				   "c4c9334bac560ecc979e58001b3e22fb"),
	      "APOP RFC 1939 example");
	CHECK(password_verify_apop("{CLEARTEXT}tanstaaf", ts,
				   "C4C9334BAC560ECC979E58001B3E22FB"),
	      "APOP upper-case digest");
	CHECK(!password_verify_apop("{PLAIN}tanstaaF", ts,
				    "c4c9334bac560ecc979e58001b3e22fb"),
	      "APOP wrong secret");
	CHECK(!password_verify_apop("{PLAIN}tanstaaf",
				    "<1896.697170953@dbc.mtview.ca.us>",
				    "c4c9334bac560ecc979e58001b3e22fb"),
	      "APOP other timestamp");
	CHECK(!password_verify_apop("{PLAIN}tanstaaf", ts,
				    "c4c9334bac560ecc979e58001b3e22f"),
	      "APOP short digest");
	CHECK(!password_verify_apop("{PLAIN}tanstaaf", ts,
				    "c4c9334bac560ecc979e58001b3e22fbb"),
	      "APOP long digest");
	CHECK(!password_verify_apop("{PLAIN}tanstaaf", ts,
				    "g4c9334bac560ecc979e58001b3e22fb"),
	      "APOP non-hex digest");
	CHECK(!password_verify_apop("{PLAIN}tanstaaf", ts, ""),
	      "APOP empty digest");
	CHECK(!password_verify_apop(SHA512, ts,
				    "c4c9334bac560ecc979e58001b3e22fb"),
	      "APOP impossible with a hash");
	CHECK(!password_verify_apop("{CRYPT}tanstaaf", ts,
				    "c4c9334bac560ecc979e58001b3e22fb"),
	      "APOP impossible with {CRYPT}");
}

static void test_hash(void)
{
	static const char *const schemes[] = {
		"yescrypt", "sha512-crypt", "bcrypt", "plain"
	};
	static const char *const labels[] = {
		"{CRYPT}$y$", "{SHA512-CRYPT}$6$", "{BLF-CRYPT}$2b$", "{PLAIN}"
	};
	char out[512], other[512], label[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		int ret = password_hash(schemes[i], PW, out, sizeof(out));

		snprintf(label, sizeof(label), "hash %s", schemes[i]);
		CHECK(ret == 0, label);
		snprintf(label, sizeof(label), "hash %s label", schemes[i]);
		CHECK(strncmp(out, labels[i], strlen(labels[i])) == 0, label);
		snprintf(label, sizeof(label), "hash %s verifies", schemes[i]);
		CHECK(password_verify(out, PW), label);
		snprintf(label, sizeof(label), "hash %s rejects", schemes[i]);
		CHECK(!password_verify(out, PW "!"), label);
		time_verify(out, schemes[i]);
	}
	CHECK(password_hash(NULL, PW, out, sizeof(out)) == 0 &&
	      strncmp(out, "{CRYPT}$y$", 10) == 0, "default is yescrypt");
	CHECK(password_hash("yescrypt", PW, other, sizeof(other)) == 0 &&
	      strcmp(out, other) != 0, "fresh salt each time");
	CHECK(password_hash("md5", PW, out, sizeof(out)) < 0,
	      "unknown scheme refused");
	CHECK(password_hash("yescrypt", PW, out, 20) < 0, "no room");
	CHECK(password_hash("plain", "a:b", out, sizeof(out)) < 0,
	      "plain with ':' refused");
	CHECK(password_hash("plain", "a\nb", out, sizeof(out)) < 0,
	      "plain with newline refused");
	CHECK(password_hash("plain", PW, out, 8) < 0, "plain: no room");
}

static void test_timing(void)
{
	double t0;
	int i;

	time_verify("{PLAIN}" PW, "plain");
	time_verify(SHA512, "sha512 5000");
	time_verify(SHA256, "sha256 5000");
	time_verify(MD5CRYPT, "md5-crypt");
	time_verify(YESCRYPT, "yescrypt j9T");
	time_verify(BCRYPT, "bcrypt 05");
	t0 = now_ms();
	for (i = 0; i < 5; i++)
		password_dummy_verify(PW);
	printf("# %-14s %9.4f ms per verification\n", "dummy",
	       (now_ms() - t0) / 5);
	t0 = now_ms();
	for (i = 0; i < 1000; i++)
		(void)password_verify_apop("{PLAIN}tanstaaf",
			"<1896.697170952@dbc.mtview.ca.us>",
			"c4c9334bac560ecc979e58001b3e22fb");
	printf("# %-14s %9.4f ms per verification\n", "apop",
	       (now_ms() - t0) / 1000);
}

static int bind_calls;

static enum password_check fake_bind(const char *dn, const char *password)
{
	bind_calls++;
	if (strcmp(dn, "uid=alice,ou=people,dc=example,dc=org") != 0)
		return PASSWORD_MISMATCH;
	if (strcmp(password, "down") == 0)
		return PASSWORD_UNAVAILABLE;
	return strcmp(password, PW) == 0 ? PASSWORD_MATCH : PASSWORD_MISMATCH;
}

static void test_bind(void)
{
	const char *alice = "{LDAP-BIND}uid=alice,ou=people,dc=example,dc=org";
	char dummy[256], again[256];

	password_set_bind(NULL);
	CHECK(!password_scheme_known(alice), "{LDAP-BIND} without the hook");
	CHECK(password_check(alice, PW) == PASSWORD_MISMATCH,
	      "{LDAP-BIND} without the hook never matches");
	password_set_bind(fake_bind);
	CHECK(password_scheme_known(alice), "{LDAP-BIND} with the hook");
	CHECK(!password_scheme_known("{LDAP-BIND}"), "{LDAP-BIND} no DN");
	CHECK(password_check(alice, PW) == PASSWORD_MATCH, "bind: right");
	CHECK(password_check(alice, "nope") == PASSWORD_MISMATCH,
	      "bind: wrong");
	CHECK(password_check(alice, "down") == PASSWORD_UNAVAILABLE,
	      "bind: the directory down is no wrong password");
	bind_calls = 0;
	CHECK(password_check(alice, "") == PASSWORD_MISMATCH &&
	      bind_calls == 0, "an empty password never binds");
	CHECK(!password_is_plain(alice) &&
	      password_plain_secret(alice) == NULL, "no plaintext for APOP");
	/* the dummy: the same scheme and parent, never alice's DN */
	CHECK(password_dummy_from(alice, dummy, sizeof(dummy)) == 0 &&
	      strncmp(dummy, "{LDAP-BIND}uid=", 15) == 0, "dummy made");
	CHECK(strlen(dummy) == strlen(alice) - 5 + 24 &&
	      strstr(dummy, "alice") == NULL &&
	      strcmp(strchr(dummy, ','), ",ou=people,dc=example,dc=org") == 0,
	      "dummy: a random first RDN value under the same parent");
	CHECK(password_dummy_from(alice, again, sizeof(again)) == 0 &&
	      strcmp(dummy, again) != 0, "dummies differ");
	CHECK(password_check(dummy, PW) == PASSWORD_MISMATCH,
	      "the dummy DN never matches");
	CHECK(password_dummy_from("{LDAP-BIND}cn=a\\,b,dc=x", dummy,
				  sizeof(dummy)) == 0 &&
	      strcmp(strchr(dummy, ','), ",dc=x") == 0,
	      "an escaped comma belongs to the RDN");
	CHECK(password_dummy_from(alice, dummy, 20) < 0, "no room");
	CHECK(password_dummy_from("{SSHA}64Qr047vKH+tH9Je/ATNJw8rDBXIj63E",
				  dummy, sizeof(dummy)) == 0 &&
	      strcmp(dummy, "{SSHA}64Qr047vKH+tH9Je/ATNJw8rDBXIj63E") == 0,
	      "a hash is its own dummy");
	password_set_bind(NULL);
}

int main(void)
{
	test_schemes();
	test_rejects();
	test_bind();
	test_apop();
	test_hash();
	test_timing();
	return unit_done();
}
