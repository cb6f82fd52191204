/* fetch_dest.h: where the fetch client puts a retrieved message:
 *
 *	maildir:PATH         the store's write side (store/delivery.h):
 *	mbox:PATH            fsync'd before success; Maildir names carry
 *	                     the message's key
 *	mda:COMMAND          /bin/sh -c COMMAND, the message on stdin;
 *	                     exit 0 is delivered, 75 try later, else
 *	                     refused
 *	lmtp:HOST:PORT       an LMTP (RFC 2033) or SMTP (RFC 5321) server:
 *	lmtp:unix:PATH       delivered at its 250 for the one recipient
 *	smtp:HOST:PORT
 *
 * One message at a time: begin, write..., commit (or abort). Only a
 * commit that returns FETCH_DEST_OK makes a message count as stored:
 * the caller records it and may then delete it on the server. The
 * bytes written are the message as retrieved (LF line ends). */
#ifndef SATCHEL_FETCH_DEST_H
#define SATCHEL_FETCH_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fetch_dest_result {
	FETCH_DEST_OK = 0,
	FETCH_DEST_TEMP = 1,     /* try again later (disk full, 4xx, 75) */
	FETCH_DEST_PERM = 2,     /* refused (5xx, an MDA's failure) */
};

struct fetch_dest;

/* What the destination needs besides its spec. */
struct fetch_dest_settings {
	const char *rcpt;        /* LMTP/SMTP recipient address */
	const char *hostname;    /* Maildir names, LHLO/EHLO */
	unsigned timeout_secs;   /* LMTP/SMTP reads and writes */
};

/* Parses spec and opens the destination (an LMTP/SMTP connection is
 * made here, a Maildir created when missing). 0, or -1 with *error_r
 * (static text, or the destination's error_buf). */
int fetch_dest_open(const char *spec, const struct fetch_dest_settings *set,
		    struct fetch_dest **dest_r, const char **error_r);
void fetch_dest_close(struct fetch_dest **destp);

/* the longest envelope address taken (RFC 5321 4.5.3.1.3: a path is
 * at most 256 octets with its brackets) */
#define FETCH_ENVELOPE_MAX 254

/* What a multidrop server (SDPS *ENV) said of a message's envelope. */
struct fetch_envelope {
	const char *sender;      /* "" for the null sender */
	const char *rcpt;
};

/* Starts a message whose key (hex, <= DELIVERY_KEY_MAX) names it in a
 * Maildir. With env (else NULL): a store puts Return-Path and
 * Delivered-To before the message, LMTP/SMTP send RCPT TO the
 * envelope's recipient (still from the null sender), an MDA gets
 * SENDER and RECIPIENT in its environment. 0, or -1 with *error_r. */
int fetch_dest_begin(struct fetch_dest *dest, const char *key,
		     const struct fetch_envelope *env, const char **error_r);
/* 0, or -1 with *error_r: the message then must be aborted. */
int fetch_dest_write(struct fetch_dest *dest, const char *data, size_t len,
		     const char **error_r);
/* Ends the message: returns its result; *error_r says why it is not
 * FETCH_DEST_OK. */
enum fetch_dest_result fetch_dest_commit(struct fetch_dest *dest,
					 const char **error_r);
/* Drops a begun message: nothing of it stays. */
void fetch_dest_abort(struct fetch_dest *dest);
/* Makes the messages committed so far durable: a Maildir stores them
 * here and fsyncs new/ once for many messages (group commit), the
 * others are durable at their commit already. A message counts as
 * stored only after this returns 0; on -1 (with *error_r) some of them
 * may be stored (a Maildir key then finds them on the next run). */
int fetch_dest_flush(struct fetch_dest *dest, const char **error_r);

/* True when the destination's names carry keys (Maildir): a kill
 * between the store and the journal is then undone by asking. */
bool fetch_dest_has_keys(const struct fetch_dest *dest);
/* Calls fn for each key stored (fetch_dest_has_keys only). 0 or -1. */
int fetch_dest_keys(struct fetch_dest *dest,
		    bool (*fn)(const char *key, size_t len, void *context),
		    void *context, const char **error_r);

/* Calls fn with the start (up to FETCH_DEST_HEAD_MAX octets: the
 * header) of every message stored (fetch_dest_has_keys only: a
 * Maildir's new/ and cur/, whoever stored them). 0 or -1. */
#define FETCH_DEST_HEAD_MAX (64 * 1024)
int fetch_dest_heads(struct fetch_dest *dest,
		     void (*fn)(const char *data, size_t len, void *context),
		     void *context, const char **error_r);

/* "maildir", "mbox", ... for logs. */
const char *fetch_dest_kind(const struct fetch_dest *dest);

#endif
