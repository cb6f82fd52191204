/* lmtp_limits.h: the fixed limits of the LMTP front end, each with its
 * reason. */
#ifndef SATCHEL_LMTP_LIMITS_H
#define SATCHEL_LMTP_LIMITS_H

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define LMTP_LINE_MAX 512
/* RFC 4954 4.: an AUTH command line and the response to a 334 may be
 * up to 12288 octets (with CRLF), past the 512 of other commands. */
#define LMTP_AUTH_LINE_MAX 12288
/* Failed AUTHs before the connection is closed (421 4.7.0): a guesser
 * must reconnect, and shows in the log each time. */
#define LMTP_AUTH_FAILURES_MAX 3
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its <>. */
#define LMTP_PATH_MAX 256
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted. */
#define LMTP_RCPTS_MAX 1000
/* Input buffer of a session: some pipelined commands, and the unit in
 * which DATA is read and spooled. */
#define LMTP_INPUT_BUF 65536
/* The unstuffed message is handed to the spool in jobs of up to this
 * many octets (a write can wait for the disk; the loop must not), and
 * the last part with the end of data. */
#define LMTP_SPOOL_CHUNK (256 * 1024)
/* A chunk is written once less room than this is left in it. */
#define LMTP_SPOOL_MIN_ROOM 8192
/* ORCPT (RFC 3461 4.2) and ENVID (5.4) after xtext decoding. */
#define LMTP_ORCPT_MAX 500
#define LMTP_ENVID_MAX 100
/* Arguments of one command (MAIL: the path and its parameters). */
#define LMTP_ARGS_MAX 16
/* Bad command lines before the connection is closed. */
#define LMTP_BAD_LINES_MAX 20
/* Idle time allowed between commands (RFC 5321 4.5.3.2.7: the server
 * timeout is at least 5 minutes). */
#define LMTP_IDLE_TIMEOUT_MS (5 * 60 * 1000)
/* After the last reply is queued, how long a client that does not read
 * may keep the connection. */
#define LMTP_CLOSE_GRACE_MS 5000
/* The output buffer stops reading commands above this. */
#define LMTP_OUTPUT_HIGH_WATER 65536
/* Store job threads of an LMTP worker: delivery fsyncs, so a few run at
 * once to overlap their waits. */
#define LMTP_STORE_THREADS 4

#endif
