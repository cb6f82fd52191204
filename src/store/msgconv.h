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
#include <sys/types.h>

/* Client workarounds (config client_workarounds, per user too): bits of
 * struct msgconv.workarounds. */
enum msgconv_workaround {
	/* Outlook (Express) stops at a NUL: each is sent as 0x80 (the same
	 * size, so LIST stays true) */
	MSGCONV_NO_NULS = 0x1,
	/* Outlook Express and Netscape need the blank line that ends the
	 * header: a message without one gets it at the end (2 more octets:
	 * msgconv_header_ends() tells which messages, for their sizes) */
	MSGCONV_ADD_EOH = 0x2,
};

/* Parses "outlook-no-nuls oe-ns-eoh" (blank- or comma-separated; "" and
 * "none" are no workaround) into *mask_r. Returns 0, or -1 with *bad_r
 * pointing at the unknown word inside list. */
int msgconv_workarounds_parse(const char *list, unsigned *mask_r,
			      const char **bad_r);

struct msgconv {
	bool stuff;            /* dot-stuff (RETR/TOP) or not (size checks) */
	unsigned workarounds;  /* enum msgconv_workaround bits */
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
 * did not end with a line end, and with MSGCONV_ADD_EOH the blank line a
 * message without a body lacks) into out (needs 2 bytes, 4 with
 * MSGCONV_ADD_EOH). Returns bytes
 * written. The ".CRLF" terminator is the caller's. */
size_t msgconv_finish(struct msgconv *conv, char *out, size_t out_size);

/* True once TOP's line count is reached: no further input is needed. */
bool msgconv_is_done(const struct msgconv *conv);

/* A message as stored, read through read(ctx, buf, size) (a count, 0 at
 * the end, -1 on error): true when its header ends with a blank line,
 * false when it has none (MSGCONV_ADD_EOH then adds 2 octets to what
 * RETR sends), -1 on a read error. Reads only up to the blank line. */
int msgconv_header_ends(ssize_t (*read)(void *ctx, char *buf, size_t size),
			void *ctx);

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
