/* deliver_log.h: the one log line per recipient that `satchel deliver`
 * and LMTP both write (issue 8, 9.): sender, recipient, user,
 * Message-ID, size, delivery id, result and time, and the client's
 * AUTH user when there was one. */
#ifndef SATCHEL_DELIVER_LOG_H
#define SATCHEL_DELIVER_LOG_H

#include "store/delivery.h"

struct deliver_log_entry {
	const char *sender;        /* "" = the null sender */
	const char *rcpt;          /* as the MTA gave it */
	const char *user;          /* canonical, or "" */
	const char *message_id;    /* "" when none */
	const struct delivery_result *res;
	double seconds;
	const char *note;          /* extra word ("late"), or NULL */
	const char *auth_user;     /* LMTP: who authenticated (RFC 4954),
				      NULL or "" = nobody */
};

/* Logs at info level (warn for failures); client text is sanitised. */
void deliver_log_result(const struct deliver_log_entry *e);

#endif
