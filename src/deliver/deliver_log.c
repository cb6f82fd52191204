/* deliver_log.c: the per-recipient delivery log line (deliver_log.h). */
#include "deliver/deliver_log.h"

#include <string.h>

#include "util/log.h"

void deliver_log_result(const struct deliver_log_entry *e)
{
	char sender[256], rcpt[256], user[128], msgid[256], text[160];
	char auth[128] = "";
	const struct delivery_result *res = e->res;
	const char *result = res->status == DELIVERY_OK ?
		(res->duplicate ? "duplicate" : "stored") :
		res->status == DELIVERY_TEMP ? "deferred" : "refused";

	log_sanitize(e->sender, strlen(e->sender), sender, sizeof(sender));
	log_sanitize(e->rcpt, strlen(e->rcpt), rcpt, sizeof(rcpt));
	log_sanitize(e->user, strlen(e->user), user, sizeof(user));
	log_sanitize(e->message_id, strlen(e->message_id), msgid,
		     sizeof(msgid));
	if (e->auth_user != NULL && e->auth_user[0] != '\0')
		log_sanitize(e->auth_user, strlen(e->auth_user), auth,
			     sizeof(auth));
	log_sanitize(res->text != NULL ? res->text : "",
		     res->text != NULL ? strlen(res->text) : 0, text,
		     sizeof(text));
	(res->status == DELIVERY_OK ? log_info : log_warn)(
		"delivery: from=<%s> to=<%s> user=%s msgid=%s size=%llu "
		"id=%s result=%s status=%s (%s)%s%s time=%.3fs%s%s",
		sender, rcpt, user, msgid[0] != '\0' ? msgid : "-",
		(unsigned long long)res->size,
		res->delivery_id[0] != '\0' ? res->delivery_id : "-", result,
		res->enhanced != NULL ? res->enhanced : "-", text,
		e->note != NULL ? " " : "", e->note != NULL ? e->note : "",
		e->seconds, auth[0] != '\0' ? " auth=" : "", auth);
}
