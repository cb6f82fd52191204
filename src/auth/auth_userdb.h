/* auth_userdb.h: the user database lookup for delivery: a recipient
 * address (no secret) -> the user's record, as an auth_reply. Used by the
 * auth process for AUTH_REQ_USERDB (LMTP workers) and directly by the
 * tools that have no auth process (`satchel deliver`, `satchel lmtp
 * --stdio`), so every host resolves a recipient the same way; the POP3
 * login fills its reply with auth_userdb_fill() too. */
#ifndef SATCHEL_AUTH_USERDB_H
#define SATCHEL_AUTH_USERDB_H

#include "auth/auth_proto.h"
#include "auth/auth_settings.h"
#include "auth/passwd.h"
#include "auth/userdb.h"

/* Fills reply's user record from entry: canonical user, mail kind and
 * expanded path (the entry's mail= or the settings' default), uid/gid,
 * expire_days, login_delay, quota_bytes/quota_messages (the entry's
 * quota_bytes=/quota_messages=, -1 when unset: the config's defaults
 * apply). 0, or
 * -1 with *error_r (uid or gid 0, name too long, bad mail location). */
int auth_userdb_fill(const struct auth_settings *set,
		     const struct passwd_entry *entry,
		     struct auth_reply *reply, const char **error_r);

/* Looks up the recipient address exactly as the MTA gave it (RCPT TO
 * without <>, or -d USER): first the whole address, then, when it has a
 * '@', its local part; a "+detail" is not stripped. The user name must
 * pass mailpath_user_valid() (so %u/%n/%d cannot climb out of the mail
 * root). Disabled accounts (nologin) still receive mail: that flag is
 * about logins. reply's header (id) is the caller's; the rest is set.
 * Returns:
 *   AUTH_OK        reply holds the record
 *   AUTH_FAILED    unknown user (550 5.1.1 / exit 67)
 *   AUTH_TEMPFAIL  no user database loaded (db NULL) (*error_r)
 *   AUTH_PERMFAIL  the record is unusable (*error_r, for the log) */
enum auth_result auth_userdb_lookup(const struct auth_settings *set,
				    struct userdb *db,
				    const char *address,
				    struct auth_reply *reply,
				    const char **error_r);

/* Asynchronous mode (the auth process, userdb.h): true when the lookup
 * auth_userdb_lookup() would make for address is under way
 * (USERDB_PENDING); ask again once userdb_process() says one finished.
 * Starts the lookup when needed. */
bool auth_userdb_pending(const struct auth_settings *set, struct userdb *db,
			 const char *address);

#endif
