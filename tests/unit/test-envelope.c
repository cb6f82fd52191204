/* test-envelope.c: the envelope a delivery recorded on top of a message
 * (store/envelope.h), what SDPS's *ENV tells. */
#include <string.h>

#include "store/envelope.h"
#include "unit.h"

static struct envelope env;

static void parse(const char *msg)
{
	envelope_parse(msg, strlen(msg), &env);
}

int main(void)
{
	char longaddr[ENVELOPE_ADDR_MAX + 40];

	parse("Return-Path: <a@x.org>\nDelivered-To: b@y.org\n"
	      "Received: by mx\nSubject: s\n\nbody\n");
	CHECK(env.have_sender && env.have_rcpt, "satchel's delivery: both");
	CHECK_STR(env.sender, "a@x.org", "sender without <>");
	CHECK_STR(env.rcpt, "b@y.org", "Delivered-To is the recipient");

	parse("Return-Path: <>\r\nX-Original-To: joe@dom.example\r\n"
	      "Delivered-To: catchall@dom.example\r\nReceived: x\r\n\r\n");
	CHECK(env.have_sender && env.sender[0] == '\0',
	      "null sender, CRLF lines");
	CHECK_STR(env.rcpt, "joe@dom.example",
		  "X-Original-To wins over Delivered-To (Postfix)");

	parse("return-path:\t<a@x> \nDELIVERED-TO: <b@y>\n\n");
	CHECK_STR(env.sender, "a@x", "field names case-insensitive");
	CHECK_STR(env.rcpt, "b@y", "brackets off the recipient");

	parse("Return-Path: <a@x>\nDelivered-To: first@y\n"
	      "Delivered-To: second@y\n\n");
	CHECK_STR(env.rcpt, "first@y", "the top Delivered-To (ours)");

	parse("Return-Path: <a@x>\nSubject: s\nDelivered-To: forged@y\n"
	      "X-Original-To: forged@y\n\n");
	CHECK(!env.have_rcpt, "fields below the block are the sender's text");

	parse("Subject: s\nReturn-Path: <forged@x>\n\n");
	CHECK(!env.have_sender && !env.have_rcpt, "no block: nothing");

	parse("Return-Path: <a b@x>\nDelivered-To: c\x01@y\n\n");
	CHECK(!env.have_sender && !env.have_rcpt,
	      "blanks and control octets: unusable");
	CHECK(env.sender[0] == '\0', "an unusable sender is left empty");

	parse("Return-Path: <a@x>\nDelivered-To: <>\n\n");
	CHECK(!env.have_rcpt, "an empty recipient is none");

	parse("Return-Path: <a@x>\nDelivered-To: b@y\n  c@z\n"
	      "X-Original-To: o@y\n\n");
	CHECK(!env.have_rcpt || strcmp(env.rcpt, "o@y") == 0,
	      "a folded Delivered-To is skipped whole");
	CHECK_STR(env.rcpt, "o@y", "the block goes on after the fold");

	parse("Return-Path: <a@x>\nDelivered-To: b@y");
	CHECK(env.have_sender && !env.have_rcpt,
	      "a last line without its end may be cut: ignored");

	memset(longaddr, 0, sizeof(longaddr));
	memcpy(longaddr, "Delivered-To: ", 14);
	memset(longaddr + 14, 'a', ENVELOPE_ADDR_MAX + 1);
	longaddr[14 + ENVELOPE_ADDR_MAX + 1] = '\n';
	parse(longaddr);
	CHECK(!env.have_rcpt, "an address over ENVELOPE_ADDR_MAX");
	longaddr[14 + ENVELOPE_ADDR_MAX] = '\n';
	longaddr[14 + ENVELOPE_ADDR_MAX + 1] = '\0';
	parse(longaddr);
	CHECK(env.have_rcpt && strlen(env.rcpt) == ENVELOPE_ADDR_MAX,
	      "an address of exactly ENVELOPE_ADDR_MAX");

	envelope_parse("Delivered-To: a\0b@y\n\n", 21, &env);
	CHECK(!env.have_rcpt, "a NUL in the value");
	parse("");
	CHECK(!env.have_sender && !env.have_rcpt, "empty message");

	CHECK(envelope_addr_valid("user@example.org"), "valid address");
	CHECK(!envelope_addr_valid(""), "empty address");
	CHECK(!envelope_addr_valid("<a@b>"), "brackets");
	CHECK(!envelope_addr_valid("\xc3\xa9@b"), "8-bit");
	return unit_done();
}
