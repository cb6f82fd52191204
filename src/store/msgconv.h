/* msgconv.h: turns stored message bytes into what RETR/TOP send:
 * bare LF -> CRLF (an existing CRLF stays, a lone CR passes through),
 * byte-stuffing of lines starting with '.' (RFC 1939 3.), NUL and 8-bit
 * bytes unchanged, a final CRLF added when the message lacks one.
 * Streaming: input may be split anywhere, even between CR and LF.
 *
 * msgconv_size computes the octets RETR sends for a message before
 * stuffing and without the terminator: the LIST size. For every input,
 * size == octets produced by a non-stuffing, whole-message conversion. */
#ifndef SATCHEL_MSGCONV_H
#define SATCHEL_MSGCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msgconv {
	bool stuff;            /* dot-stuff (RETR/TOP) or not (size checks) */
	int64_t body_lines;    /* TOP: body lines still to send; -1 = all */
	bool in_body;          /* past the blank line ending the header */
	bool line_start;       /* next byte begins a line */
	bool prev_cr;          /* last input byte was CR (a LF after it ends
				  the line without adding a CR) */
	unsigned char line_len; /* input bytes in the current line, capped
				   at 2: enough to tell an empty line */
	bool done;             /* TOP line count reached: ignore further input */
};

/* top_lines: -1 for RETR; m for "TOP n m" (any value >= 0, beyond the body
 * simply means the whole message). */
void msgconv_init(struct msgconv *conv, bool stuff, int64_t top_lines);

/* Converts input, appending to out (capacity out_size). Returns how many
 * input bytes were consumed (may be less than in_len when out is full;
 * call again with the rest). *out_len_r is set to bytes written.
 * out_size must be at least 4. */
size_t msgconv_feed(struct msgconv *conv, const char *in, size_t in_len,
		    char *out, size_t out_size, size_t *out_len_r);

/* Ends the message: writes what is pending (a final CRLF when the message
 * did not end with a line end) into out (needs 2 bytes). Returns bytes
 * written. The ".CRLF" terminator is the caller's. */
size_t msgconv_finish(struct msgconv *conv, char *out, size_t out_size);

/* True once TOP's line count is reached: no further input is needed. */
bool msgconv_is_done(const struct msgconv *conv);

/* Incremental LIST size of a message as stored. */
struct msgsize {
	uint64_t octets;
	bool prev_cr;          /* last byte fed was CR */
	bool line_start;       /* last byte fed was LF, or nothing fed */
};
void msgsize_init(struct msgsize *ms);
void msgsize_feed(struct msgsize *ms, const char *in, size_t len);
uint64_t msgsize_finish(struct msgsize *ms);

#endif
