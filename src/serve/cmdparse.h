/* cmdparse.h: splitting a POP3 command line and finding its table entry.
 * RFC 1939 3.: a keyword, then arguments separated by single spaces;
 * keywords are case-insensitive. We also accept runs of spaces (clients
 * are sloppy), except for "rest of line" arguments such as PASS, whose
 * argument may itself contain spaces (RFC 1939 7., PASS). */
#ifndef SATCHEL_CMDPARSE_H
#define SATCHEL_CMDPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "serve/limits.h"

struct cmd_args {
	char verb[16];
	unsigned argc;                  /* arguments found (may exceed max) */
	char *argv[CMD_MAX_ARGS + 1];
	char *rest;                     /* the text after "VERB " or "" */
};

enum cmd_outcome {
	CMD_DONE,      /* a reply was queued */
	CMD_WAIT,      /* waiting for the auth process or a delay */
	CMD_BAD,       /* a reply was queued, and it counts as a bad command */
	CMD_CLOSE,     /* a reply was queued; close the connection after it */
};

struct session;
typedef enum cmd_outcome cmd_handler(struct session *s,
				     const struct cmd_args *args);

struct command {
	const char *name;
	unsigned states;     /* enum session_state bits */
	unsigned min_args, max_args;
	bool rest_arg;       /* the single argument is the rest of the line */
	cmd_handler *handler;
};

/* Takes the keyword off line: fills args_r->verb and args_r->rest.
 * Returns 0, or -1 when the keyword is empty or longer than any command
 * (the caller answers "unknown command"). */
int cmdparse_verb(char *line, struct cmd_args *args_r);
/* Splits args_r->rest in place into argv/argc: one argument, the whole
 * rest, when rest_arg (and the rest is not empty); else space-separated
 * tokens (argc counts them all, argv keeps the first CMD_MAX_ARGS). */
void cmdparse_args(struct cmd_args *args, bool rest_arg);

/* Case-insensitive lookup. NULL when absent. */
const struct command *cmdparse_find(const struct command *table, size_t n,
				    const char *verb);

#endif
