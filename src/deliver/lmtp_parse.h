/* lmtp_parse.h: the syntax of LMTP command lines (RFC 2033 on RFC 5321):
 * splitting a line, the MAIL FROM / RCPT TO paths and their ESMTP
 * parameters (SIZE, BODY, SMTPUTF8: RFC 1870, 6152, 6531; RET, ENVID,
 * NOTIFY, ORCPT: RFC 3461; AUTH: RFC 4954), BDAT's arguments (RFC 3030),
 * the AUTH PLAIN response (RFC 4616). Pure functions
 * on the caller's buffers; everything parsed is untrusted client text.
 *
 * Every failure sets *reply_r to the complete reply line to send (code,
 * enhanced code, text), so the handler only queues it. */
#ifndef SATCHEL_LMTP_PARSE_H
#define SATCHEL_LMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_proto.h"
#include "deliver/lmtp_limits.h"

struct lmtp_args {
	char verb[12];
	unsigned argc;                 /* tokens found (may exceed max) */
	char *argv[LMTP_ARGS_MAX];
	char *rest;                    /* after "VERB " */
};

/* Splits line in place: the verb (case kept) and space-separated
 * arguments. -1 when the verb is empty or longer than any command. */
int lmtp_parse_line(char *line, struct lmtp_args *args_r);

enum lmtp_body { LMTP_BODY_NONE, LMTP_BODY_7BIT, LMTP_BODY_8BITMIME };
enum lmtp_ret { LMTP_RET_NONE, LMTP_RET_FULL, LMTP_RET_HDRS };

struct lmtp_mail {
	char sender[LMTP_PATH_MAX];    /* without <>; "" = null sender */
	bool have_size;
	uint64_t size;
	enum lmtp_body body;
	bool smtputf8;
	enum lmtp_ret ret;
	char envid[LMTP_ENVID_MAX + 1];
};

#define LMTP_NOTIFY_NEVER   0x1u
#define LMTP_NOTIFY_SUCCESS 0x2u
#define LMTP_NOTIFY_FAILURE 0x4u
#define LMTP_NOTIFY_DELAY   0x8u

struct lmtp_rcpt_args {
	char address[LMTP_PATH_MAX];   /* without <> and source route */
	char orcpt[LMTP_ORCPT_MAX + 1]; /* "rfc822;addr" decoded, or "" */
	unsigned notify;               /* LMTP_NOTIFY_* bits, 0 = absent */
};

/* "FROM:<path> [params]" (args->argv[0] begins with FROM:). 0, or -1
 * with *reply_r (501 5.5.4 syntax, 555 5.5.4 unknown parameter, 552
 * 5.3.4 SIZE over max_size when max_size is not 0). */
int lmtp_parse_mail(const struct lmtp_args *args, uint64_t max_size,
		    struct lmtp_mail *mail_r, const char **reply_r);
/* "TO:<path> [params]". The null path is refused; "<postmaster>"
 * without a domain is allowed (RFC 5321 4.1.1.3). 0 or -1 + *reply_r. */
int lmtp_parse_rcpt(const struct lmtp_args *args,
		    struct lmtp_rcpt_args *rcpt_r, const char **reply_r);
/* An AUTH PLAIN response (RFC 4954 4., RFC 4616 2.): decoded, never
 * logged; the caller wipes it. authzid "" when absent. */
struct lmtp_auth_plain {
	char authzid[AUTH_USER_MAX];
	char user[AUTH_USER_MAX];
	char password[AUTH_SECRET_MAX];
};
/* Decodes the base64 text b64 (an initial response or the line after
 * 334) and splits it. 0, or -1 with *reply_r: 501 5.5.2 for text that
 * is not base64, 535 5.7.8 for a message that is not authzid NUL
 * authcid NUL passwd (empty authcid or password, a field too long, "="
 * for an empty response). Nothing decoded is left behind on failure. */
int lmtp_parse_auth_plain(const char *b64, struct lmtp_auth_plain *plain_r,
			  const char **reply_r);

/* "BDAT size [LAST]". 0 or -1 with *reply_r (501 5.5.4). */
int lmtp_parse_bdat(const struct lmtp_args *args, uint64_t *size_r,
		    bool *last_r, const char **reply_r);

#endif
