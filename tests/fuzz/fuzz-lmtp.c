/* fuzz-lmtp.c: arbitrary client bytes through the LMTP parser: each
 * line as a command (the verb split, MAIL / RCPT paths and parameters,
 * BDAT, an AUTH PLAIN response), and after a line "DATA" the bytes up
 * to the end of data through the dot-unstuffer in arbitrary read sizes,
 * as a session reads them.
 * Then a round trip: the input made into CRLF lines, dot-stuffed as an
 * MTA sends it (store/msgconv.c), must come out of the unstuffer exactly
 * as it went in, wherever the reads split it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/lmtp_dot.h"
#include "deliver/lmtp_parse.h"
#include "store/msgconv.h"

static void parse_command(char *line)
{
	struct lmtp_args args;
	struct lmtp_mail mail;
	struct lmtp_rcpt_args rcpt;
	const char *reply;
	uint64_t size;
	bool last;

	if (lmtp_parse_line(line, &args) < 0)
		return;
	if (args.argc > 0 && strncasecmp(args.verb, "MAIL", 4) == 0 &&
	    lmtp_parse_mail(&args, 1000, &mail, &reply) == 0 &&
	    strlen(mail.sender) >= sizeof(mail.sender))
		__builtin_trap();
	if (strncasecmp(args.verb, "RCPT", 4) == 0 &&
	    lmtp_parse_rcpt(&args, &rcpt, &reply) == 0 &&
	    rcpt.address[0] == '\0')
		__builtin_trap();
	if (strncasecmp(args.verb, "BDAT", 4) == 0)
		(void)lmtp_parse_bdat(&args, &size, &last, &reply);
	if (strncasecmp(args.verb, "AUTH", 4) == 0 && args.argc == 2) {
		struct lmtp_auth_plain plain;

		/* a parsed message has a user and a password */
		if (lmtp_parse_auth_plain(args.argv[1], &plain, &reply) == 0 &&
		    (plain.user[0] == '\0' || plain.password[0] == '\0'))
			__builtin_trap();
	}
}

/* The session's view: lines until DATA, then data until its end. */
static void session_stream(const uint8_t *data, size_t size)
{
	char *out = malloc(size + 2);
	char line[LMTP_LINE_MAX + 1];
	struct lmtp_dot dot;
	bool in_data = false;
	size_t pos = 0;

	while (pos < size) {
		if (!in_data) {
			const uint8_t *lf = memchr(data + pos, '\n',
						   size - pos);
			size_t len = lf != NULL ? (size_t)(lf - (data + pos)) :
				     size - pos;

			if (len < sizeof(line) && memchr(data + pos, 0, len) ==
			    NULL) {
				memcpy(line, data + pos, len);
				line[len] = '\0';
				if (len > 0 && line[len - 1] == '\r')
					line[len - 1] = '\0';
				parse_command(line);
				if (strcasecmp(line, "DATA") == 0) {
					lmtp_dot_init(&dot);
					in_data = true;
				}
			}
			pos += len + (lf != NULL);
			continue;
		}
		{
			size_t chunk = 1 + data[pos] % 97, got, used;

			if (chunk > size - pos)
				chunk = size - pos;
			used = lmtp_dot_feed(&dot, (const char *)data + pos,
					     chunk, out, &got);
			if (used > chunk || got > chunk + 1)
				__builtin_trap();
			pos += used;
			if (lmtp_dot_done(&dot))
				in_data = false;
		}
	}
	free(out);
}

static void round_trip(const uint8_t *data, size_t size)
{
	size_t cap = 2 * size + 8, n = 0, sn = 0, un = 0, pos = 0;
	char *canon = malloc(cap), *stuffed = malloc(2 * cap + 8);
	char *back = malloc(2 * cap + 8);
	struct msgconv conv;
	struct lmtp_dot dot;

	/* CRLF lines: a CR alone is not a line end for the MTA either */
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n') {
			canon[n++] = '\r';
			canon[n++] = '\n';
		} else {
			canon[n++] = data[i] == '\r' ? 'x' : (char)data[i];
		}
	}
	if (n < 2 || canon[n - 1] != '\n') {
		canon[n++] = '\r';
		canon[n++] = '\n';
	}
	msgconv_init(&conv, true, -1);
	while (pos < n) {
		size_t got, used = msgconv_feed(&conv, canon + pos, n - pos,
						stuffed + sn, 2 * cap - sn,
						&got);

		pos += used;
		sn += got;
	}
	sn += msgconv_finish(&conv, stuffed + sn, 2);
	memcpy(stuffed + sn, ".\r\n", 3);
	sn += 3;
	lmtp_dot_init(&dot);
	pos = 0;
	while (pos < sn && !lmtp_dot_done(&dot)) {
		size_t chunk = 1 + (size > 0 ? data[pos % size] % 13 : 0), got;

		if (chunk > sn - pos)
			chunk = sn - pos;
		pos += lmtp_dot_feed(&dot, stuffed + pos, chunk, back + un,
				     &got);
		un += got;
	}
	if (!lmtp_dot_done(&dot) || pos != sn || un != n ||
	    memcmp(back, canon, n) != 0)
		__builtin_trap();
	free(canon);
	free(stuffed);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	session_stream(data, size);
	round_trip(data, size);
	return 0;
}
