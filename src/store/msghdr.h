/* msghdr.h: the header filter of the delivery spool (private to
 * src/store): one pass over a message as an MTA hands it over, in chunks
 * split anywhere, that
 *
 *   - drops a leading mbox "From " line (its address is kept: the
 *     sender when the envelope has none);
 *   - drops incoming fields a sender could use to forge a UIDL or the
 *     stored state of the message (X-UIDL, Status, X-Status, X-Keywords,
 *     Content-Length, X-Satchel-*, ..., see the table in msghdr.c), with
 *     their folded continuation lines, and Return-Path (the store writes
 *     its own from the envelope, RFC 5321 4.4);
 *   - passes every other octet unchanged: LF or CRLF as it came, 8-bit,
 *     NUL, lines of any length (nothing is buffered beyond a field name);
 *   - reads the first Message-ID and every Delivered-To (bounded values,
 *     see the limits below), the line ending the message uses, and
 *     whether it holds a NUL.
 *
 * The header ends at the first empty line, or at the first line that is
 * neither a field nor a continuation (as Postfix's cleanup decides it):
 * nothing in the body is ever touched. All input is untrusted. */
#ifndef SATCHEL_MSGHDR_H
#define SATCHEL_MSGHDR_H

#include <stdbool.h>
#include <stddef.h>

/* A field name longer than this is never one we strip (ours are short);
 * the line passes unread. */
#define MSGHDR_NAME_MAX 64
/* Blanks between a field name and its colon (obsolete syntax, RFC 5322
 * 4.5.3) read while deciding; more after a name we strip: the line is
 * dropped as that field. */
#define MSGHDR_WSP_MAX 8
/* Message-ID and Delivered-To values kept: RFC 5322 2.1.1 lines are at
 * most 998 octets; a longer Message-ID is kept cut at this length (it is
 * only logged and digested), a longer Delivered-To cannot name one of
 * our recipients and is ignored. */
#define MSGHDR_VALUE_MAX 998
/* More Delivered-To fields than this is a loop in itself (RFC 5321
 * 6.3 counts Received fields the same way): the message is refused. */
#define MSGHDR_DELIVERED_TO_MAX 100
/* The leading "From " line is read up to this length; only its address
 * is used (RFC 5321 4.5.3.1.3: a path is at most 256 octets). */
#define MSGHDR_FROM_LINE_MAX 1024

/* Where the filtered bytes go (called with n > 0). */
typedef void msghdr_output_fn(void *ctx, const char *data, size_t n);

enum msghdr_state {
	MSGHDR_LINE_START, MSGHDR_PEND, MSGHDR_NAME_LONG, MSGHDR_PASS_LINE,
	MSGHDR_DROP_LINE, MSGHDR_FROM_LINE, MSGHDR_BODY,
};

enum msghdr_disp {
	MSGHDR_DISP_NONE,   /* no field yet */
	MSGHDR_DISP_PASS,
	MSGHDR_DISP_STRIP,
	MSGHDR_DISP_MSGID,
	MSGHDR_DISP_DELIVERED_TO,
};

struct msghdr {
	msghdr_output_fn *out;
	void *ctx;
	enum msghdr_state state;
	enum msghdr_disp disp;      /* of the current field (continuations) */
	bool first_line;
	bool name_wsp;              /* NAME_LONG: past the name, in WSP */
	bool last_cr;               /* the last octet fed was CR */
	/* the start of a line, not yet decided */
	char pend[MSGHDR_NAME_MAX + MSGHDR_WSP_MAX + 2];
	size_t pend_len;
	/* the value of a Message-ID or Delivered-To being read */
	char cap[MSGHDR_VALUE_MAX + 1];
	size_t cap_len;
	bool cap_overflow;
	/* the From_ line */
	char from_line[MSGHDR_FROM_LINE_MAX + 1];
	size_t from_len;
	bool from_overflow;
	bool has_from_line;
	/* results */
	bool eol_known, crlf;       /* line end of the first header line */
	bool from_eol_crlf;         /* ... of the From_ line (a fallback) */
	bool has_nul;
	bool in_body;               /* the header has ended */
	char message_id[MSGHDR_VALUE_MAX + 1]; /* "" when none */
	bool has_message_id;
	char **delivered_to;        /* malloc'd values, trimmed */
	size_t delivered_to_count;
	size_t delivered_to_top;    /* how many of them come before the
				       first Received field */
	bool seen_received;
	bool too_many_delivered_to;
	bool nomem;                 /* out of memory keeping a value */
};

void msghdr_init(struct msghdr *h, msghdr_output_fn *out, void *ctx);
/* Filters len octets (any split). */
void msghdr_feed(struct msghdr *h, const char *data, size_t len);
/* End of the message: flushes a pending line start. */
void msghdr_finish(struct msghdr *h);
void msghdr_deinit(struct msghdr *h);

/* The address of the From_ line ("" for "From  date" or "<>"), or NULL
 * when there was no From_ line or it was longer than the bound. */
const char *msghdr_from_sender(struct msghdr *h);
/* Whether a Delivered-To after the first Received field names addr
 * (case-insensitive, <> ignored). Those above every Received are the
 * MTA's own for this very delivery (Postfix local(8) prepends one for
 * mailbox_command); a loop means the message came back through an MTA,
 * which put its Received above our earlier Delivered-To. */
bool msghdr_has_delivered_to(const struct msghdr *h, const char *addr);
/* Whether one of those above every Received names addr. */
bool msghdr_has_top_delivered_to(const struct msghdr *h, const char *addr);

#endif
