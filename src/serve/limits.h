/* limits.h: the fixed limits of the server, each with its reason. Limits an
 * administrator may want to change are config keys (config.c) instead. */
#ifndef SATCHEL_LIMITS_H
#define SATCHEL_LIMITS_H

/* Output is generated until this much is pending, then we wait for the
 * socket to drain: one big RETR never holds a worker or its memory. */
#define OUTPUT_HIGH_WATER (128 * 1024)

/* A closing session (QUIT, a limit, shutdown) gets this long to deliver
 * its last reply to a client that does not read, then it is dropped. */
#define CLOSE_GRACE_MS 10000

/* Proxy mode: each direction of a relayed session buffers at most this
 * much; a side is not read while the other side's buffer is full, so a
 * slow reader holds back the writer instead of our memory (16 KB: one
 * TLS record, a few TCP segments; the kernel buffers the rest). */
#define PROXY_RELAY_BUF (16 * 1024)
/* RFC 2449 4.: a response line is at most 512 octets with its CRLF; a
 * backend line longer than that during the login is refused. */
#define PROXY_LINE_MAX 512
/* how long a backend's learned CAPA is trusted (session_proxy.h) */
#define PROXY_CAPA_TTL 60
/* Proxy mode's loop guard: a session that already passed this many
 * satchel proxies (their PROXY TLV) is not proxied again; two allow a
 * proxy in front of proxies, a loop between two ends at the third. */
#define PROXY_HOPS_MAX 2
/* A backend that refuses the connection or closes it before its
 * greeting (a restart, a full listen queue) is tried this often in all,
 * this far apart, within proxy_timeout; nothing was sent to it yet. */
#define PROXY_CONNECT_TRIES 3
#define PROXY_RETRY_MS 200

/* RETR/TOP read the store in chunks of this size. */
#define MESSAGE_CHUNK (64 * 1024)

/* RFC 2449 section 4: command arguments are up to 40 octets; we accept
 * longer ones (user@domain names, passwords) but no more than fit a line. */
#define CMD_MAX_ARGS 4

/* RFC 1939 4.: a user name is a string; we bound it like the auth
 * protocol does and refuse control characters. */
#define USER_NAME_MAX 255

/* Connections a worker reads before yielding to the others in one round,
 * so a flood on one listener cannot starve sessions already served. */
#define ACCEPT_BATCH 64

/* Tracked client addresses for failed-login delays, for the whole server
 * (faildelay.c: shared by every worker). */
#define FAIL_TABLE_SIZE 4096
/* A client address forgets its failures after this long without one. */
#define FAIL_FORGET_SECS 900

/* Users tracked for the XTND XMIT rate (xmitrate.c, shared by every
 * worker): only those who send take a slot. */
#define XMIT_RATE_TABLE_SIZE 1024
/* XTND XMIT message lines: RFC 5322 2.1.1 allows 998 octets; MTAs take
 * longer ones (Postfix's line_length_limit is 2048), so do we. */
#define XMIT_LINE_MAX 4096
/* Relay threads per worker (XTND XMIT only): a relay that hangs holds
 * one until xtnd_xmit_timeout, never a store job or the loop. */
#define WORKER_RELAY_THREADS 2

/* A new worker accepts only once its auth process has said which
 * mechanisms it can serve (CAPA must not lie); if the auth process is
 * this slow to start, the worker listens anyway and logs a warning. */
#define AUTH_HELLO_WAIT_MS 5000

/* Buckets of the shared per-address connection counters. */
#define CONN_BUCKETS 16384

/* Opening a big maildrop allocates tens of MB (names, index, UIDLs)
 * that glibc would map and unmap per session, paying a page fault per
 * page every time (15% of a warm 100,000-message listing). The worker
 * keeps that memory while it is busy and gives it back once it has been
 * quiet for this long, so idle memory stays small. */
#define MEMORY_TRIM_MS 5000

/* Threads for maildrop opens and commits: a few, so one slow maildrop
 * (a lock wait of up to 2 s, a cold 100,000-file scan) never holds the
 * others; each cold Maildir scan adds its own size threads (maildir.c). */
#define WORKER_STORE_THREADS 4

/* Generations alive at once: the current one and those still draining
 * after reloads (each keeps its sessions until they end). A reload
 * beyond this is refused with a logged reason. */
#define MAX_GENERATIONS 8

/* The key process (keyproc.h). A worker waits this long for one
 * signature: a signature takes a millisecond or two, so only a stuck key
 * process reaches it, and the worker's loop must not wait longer. A key
 * process that died answers at once (EOF). */
#define KEYPROC_OP_TIMEOUT_MS 2000
/* The master waits this long for a new key process to load the key. */
#define KEYPROC_HELLO_TIMEOUT_MS 10000
/* Open worker channels: one per worker, and a few more while workers
 * reconnect after a restart; a new one past this is closed. */
#define KEYPROC_CHANNELS_MAX 256

/* After SIGTERM, children still alive after this long are killed. */
#define SHUTDOWN_GRACE_SECS 10

#endif
