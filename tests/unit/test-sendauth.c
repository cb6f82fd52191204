/* test-sendauth.c: the sendauth framing (net/sendauth.h): the two
 * version strings as MIT's and Heimdal's krb5_sendauth send them, a
 * wrong or Kerberos IV version, lengths above the bounds refused as soon
 * as the length field arrives, every prefix asking for more. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/sendauth.h"
#include "unit.h"

/* "KRB5_SENDAUTH_V1.0" NUL then "KPOPV1.0" NUL, each length-prefixed:
 * the first 36 octets fetchmail's proto KPOP sends */
static const unsigned char hello[] =
	"\0\0\0\x13KRB5_SENDAUTH_V1.0\0"
	"\0\0\0\x09KPOPV1.0";
#define HELLO_LEN (sizeof(hello)) /* the literal's own NUL ends KPOPV1.0 */

static enum sendauth_result versions(const unsigned char *buf, size_t len,
				     size_t *used, enum sendauth_reply *reply)
{
	const char *error = NULL;
	enum sendauth_result r = sendauth_parse_versions(
		buf, len, SENDAUTH_KPOP_VERSION, used, reply, &error);

	if (r == SENDAUTH_BAD && error == NULL)
		abort();
	return r;
}

int main(void)
{
	enum sendauth_reply reply = SENDAUTH_REPLY_OK;
	unsigned char buf[256];
	const unsigned char *msg = NULL;
	const char *error = NULL;
	size_t used = 0, msg_len = 0, i;
	bool all_more = true;

	CHECK(HELLO_LEN == 4 + 19 + 4 + 9, "the test's hello is 36 octets");
	CHECK(versions(hello, HELLO_LEN, &used, &reply) == SENDAUTH_DONE &&
		      used == HELLO_LEN && reply == SENDAUTH_REPLY_OK,
	      "both versions");
	for (i = 0; i < HELLO_LEN; i++)
		all_more = all_more &&
			   versions(hello, i, &used, &reply) == SENDAUTH_MORE;
	CHECK(all_more, "every prefix asks for more");

	memcpy(buf, hello, HELLO_LEN);
	memcpy(buf + 4 + 19 + 4, "KPOPV0.1", 8);
	CHECK(versions(buf, HELLO_LEN, &used, &reply) == SENDAUTH_BAD &&
		      reply == SENDAUTH_REPLY_BAD_APPL,
	      "Kerberos IV's application version: reply 2");

	memcpy(buf, hello, HELLO_LEN);
	buf[4 + 17] = '1';
	CHECK(versions(buf, HELLO_LEN, &used, &reply) == SENDAUTH_BAD &&
		      reply == SENDAUTH_REPLY_BAD_VERSION,
	      "another sendauth version: reply 1");

	memcpy(buf, hello, HELLO_LEN);
	buf[4 + 18] = 'x'; /* no NUL */
	CHECK(versions(buf, HELLO_LEN, &used, &reply) == SENDAUTH_BAD &&
		      reply == SENDAUTH_REPLY_BAD_VERSION,
	      "a version without its NUL");

	CHECK(versions((const unsigned char *)"\0\0\x10\0", 4, &used,
		       &reply) == SENDAUTH_BAD &&
		      reply == SENDAUTH_REPLY_BAD_VERSION,
	      "a 4 KB version refused at its length field");
	CHECK(versions((const unsigned char *)"USER", 4, &used, &reply) ==
		      SENDAUTH_BAD,
	      "a POP3 command instead of sendauth");

	memcpy(buf, hello, 4 + 19);
	memcpy(buf + 23, "\0\0\0\x41", 4);
	CHECK(versions(buf, 27, &used, &reply) == SENDAUTH_BAD &&
		      reply == SENDAUTH_REPLY_BAD_APPL,
	      "a long application version refused at its length field");

	/* the AP_REQ */
	memcpy(buf, "\0\0\0\x05" "abcde" "junk", 13);
	CHECK(sendauth_parse_message(buf, 13, SENDAUTH_AP_REQ_MAX, &msg,
				     &msg_len, &used, &error) ==
			      SENDAUTH_DONE &&
		      msg == buf + 4 && msg_len == 5 && used == 9,
	      "a message, what follows not taken");
	all_more = true;
	for (i = 0; i < 9; i++)
		all_more = all_more &&
			   sendauth_parse_message(buf, i, SENDAUTH_AP_REQ_MAX,
						  &msg, &msg_len, &used,
						  &error) == SENDAUTH_MORE;
	CHECK(all_more, "every prefix of a message asks for more");
	CHECK(sendauth_parse_message((const unsigned char *)"\0\0\xc0\x01", 4,
				     SENDAUTH_AP_REQ_MAX, &msg, &msg_len,
				     &used, &error) == SENDAUTH_BAD,
	      "49153 octets refused at the length field");
	CHECK(sendauth_parse_message((const unsigned char *)"\xff\xff\xff\xff",
				     4, SENDAUTH_AP_REQ_MAX, &msg, &msg_len,
				     &used, &error) == SENDAUTH_BAD,
	      "a 4 GB length refused");
	CHECK(sendauth_parse_message((const unsigned char *)"\0\0\0\0", 4,
				     SENDAUTH_AP_REQ_MAX, &msg, &msg_len,
				     &used, &error) == SENDAUTH_BAD,
	      "an empty AP_REQ refused");

	/* what the server sends */
	CHECK(sendauth_encode_message(NULL, 0, buf, 4) == 4 &&
		      memcmp(buf, "\0\0\0\0", 4) == 0,
	      "the empty no-error message");
	CHECK(sendauth_encode_message("xyz", 3, buf, sizeof(buf)) == 7 &&
		      memcmp(buf, "\0\0\0\x03xyz", 7) == 0,
	      "an AP_REP");
	CHECK(sendauth_encode_message("xyz", 3, buf, 6) == -1,
	      "too small a buffer");
	CHECK(sendauth_parse_message(buf, 7, 3, &msg, &msg_len, &used,
				     &error) == SENDAUTH_DONE &&
		      msg_len == 3 && memcmp(msg, "xyz", 3) == 0,
	      "encode then parse");
	return unit_done();
}
