/* agent_proto.h: the typed messages between a POP3 session's remote
 * maildrop (maildrop_agent.c, in the worker) and its mail agent (agent.c,
 * a process with the user's uid that holds the real maildrop).
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET socketpair per session, so every
 * send() is one whole message. Each message starts with struct agent_hdr:
 * its type and the octets that follow the header (len); the receiver
 * takes the real length (MSG_TRUNC), rejects any message whose len does
 * not match it or the size its type allows, and forces NUL termination of
 * every string field before use. Neither side trusts the other: the worker
 * may be compromised (the agent serves only what its maildrop has), and
 * the agent runs as a user who may have a shell (the worker checks every
 * size, count and UIDL it gets).
 *
 * The conversation, one request at a time, in this order:
 *   OPEN       -> OPENED (ret, count), then ceil(count / AGENT_MSGS_BATCH)
 *                 MSGS in order (sizes, UIDLs, seen) when ret is OK
 *   READER idx -> READER_FD (ret) with a read-only descriptor attached
 *                 (SCM_RIGHTS) holding exactly the message as stored
 *   FLAGS      (no reply) DELE/RETR marks of a run of messages, before
 *   COMMIT     -> COMMITTED (ret, deleted); the agent then exits
 * Closing the socket ends the agent without changing anything (a dropped
 * connection deletes nothing, RFC 1939 6.).
 *
 * Why a descriptor per message and not the bytes over the socket: RETR
 * and TOP read on the worker's event loop (session_long.c), chunk by
 * chunk as the client drains its output. Streamed bytes would cost a
 * round trip to the agent per chunk on the loop, and an agent that stops
 * answering would stall every client of the worker at every chunk. With
 * a descriptor there is one bounded round trip per message (at most
 * AGENT_LOOP_TIMEOUT_MS), then plain reads of a file the worker cannot
 * write through (opened O_RDONLY by the agent; an mbox message is copied
 * into a sealed memfd, as mboxrd quoting is undone on the way). */
#ifndef SATCHEL_AGENT_PROTO_H
#define SATCHEL_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/maildrop.h"

#define AGENT_ERROR_MAX 96
/* messages per MSGS: 256 * 80 octets, well inside a socket buffer */
#define AGENT_MSGS_BATCH 256
/* flags per FLAGS message */
#define AGENT_FLAGS_BATCH 8192
/* the largest snapshot a worker takes from an agent: 10 times the
 * 100,000-message maildrop DESIGN.md plans for (80 MB of entries) */
#define AGENT_MSGS_MAX 1000000u

enum agent_type {
	AGENT_REQ_OPEN = 1,       /* struct agent_open */
	AGENT_REQ_READER = 2,     /* struct agent_index */
	AGENT_REQ_FLAGS = 3,      /* struct agent_flags, no reply */
	AGENT_REQ_COMMIT = 4,     /* the header alone */
	AGENT_REP_OPENED = 16,    /* struct agent_result: count messages */
	AGENT_REP_MSGS = 17,      /* struct agent_msgs */
	AGENT_REP_READER = 18,    /* struct agent_result, a fd when OK */
	AGENT_REP_COMMITTED = 19, /* struct agent_result: count deleted */
};

struct agent_hdr {
	uint32_t type;            /* enum agent_type */
	uint32_t len;             /* octets after the header */
};

struct agent_open {
	struct agent_hdr hdr;
	uint32_t expire_days;     /* maildrop_settings.expire_days */
	uint8_t scan_utf8;        /* maildrop_settings.scan_utf8 */
	uint8_t pad[3];
};

struct agent_index {
	struct agent_hdr hdr;
	uint32_t idx;             /* 0-based message number */
	uint32_t pad;
};

#define AGENT_FLAG_DELETED 1u
#define AGENT_FLAG_RETRIEVED 2u
#define AGENT_FLAG_SEEN 4u        /* MSGS only: maildrop_msg.seen */

struct agent_flags {
	struct agent_hdr hdr;
	uint32_t first;           /* the first message of the run */
	uint32_t n;               /* flags[] sent: len = 8 + n */
	uint8_t flags[AGENT_FLAGS_BATCH]; /* AGENT_FLAG_DELETED|RETRIEVED */
};

struct agent_result {
	struct agent_hdr hdr;
	int32_t ret;              /* enum maildrop_error */
	uint32_t count;           /* OPENED: messages; COMMITTED: removed */
	char error[AGENT_ERROR_MAX]; /* when ret is not OK */
};

struct agent_msg_entry {
	uint64_t size;
	uint64_t wrap_size;       /* maildrop_msg.wrap_size */
	uint8_t flags;            /* AGENT_FLAG_SEEN */
	uint8_t utf8;             /* maildrop_msg.utf8 (enum maildrop_utf8) */
	char uidl[MAILDROP_UIDL_MAX + 1];
};

struct agent_msgs {
	struct agent_hdr hdr;
	uint32_t first;           /* = the entries received so far */
	uint32_t n;               /* entries sent: len = 8 + n * entry */
	struct agent_msg_entry e[AGENT_MSGS_BATCH];
};

/* The length on the wire of a message whose header is filled in. */
static inline size_t agent_proto_len(const struct agent_hdr *hdr)
{
	return sizeof(*hdr) + hdr->len;
}

/* Fills hdr for a message of type whose whole struct, as sent, has
 * size octets. */
void agent_proto_hdr(struct agent_hdr *hdr, uint32_t type, size_t size);
/* Sets n and the length of a FLAGS or MSGS message. */
void agent_proto_flags_len(struct agent_flags *f, uint32_t n);
void agent_proto_msgs_len(struct agent_msgs *m, uint32_t n);

/* The agent's check of the n octets it received (the real length; msg
 * holds min(n, sizeof(struct agent_flags)) octets, suitably aligned):
 * the request's type, or 0 when the message is malformed (a length that
 * is not its type's, a FLAGS run longer than its batch, an unknown
 * type). Used by agent.c and tests/fuzz/fuzz-agentproto.c. */
uint32_t agent_proto_check_request(const void *msg, size_t n);
/* Applies a checked FLAGS request to the count messages of a snapshot.
 * 0, or -1 when the run does not lie inside them (a protocol error). */
int agent_proto_apply_flags(const struct agent_flags *f,
			    struct maildrop_msg *msgs, unsigned count);

/* The worker's check of a reply of n octets that must be of type want:
 * OPENED, READER, COMMITTED (struct agent_result: ret one of the
 * maildrop errors, error NUL-terminated) or MSGS (n entries, first equal
 * to expect_first, and first + n at most count; every UIDL 1-70 octets
 * of 0x21-0x7E). true when it may be used. */
bool agent_proto_check_reply(void *msg, size_t n, uint32_t want,
			     uint32_t expect_first, uint32_t count);

#endif
