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

/* A new worker accepts only once its auth process has said which
 * mechanisms it can serve (CAPA must not lie); if the auth process is
 * this slow to start, the worker listens anyway and logs a warning. */
#define AUTH_HELLO_WAIT_MS 5000

/* Buckets of the shared per-address connection counters. */
#define CONN_BUCKETS 16384

#endif
