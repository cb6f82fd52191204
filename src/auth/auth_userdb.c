/* auth_userdb.c: recipient address -> user record (see auth_userdb.h). */
#include "auth/auth_userdb.h"
#include "auth/loginname.h"

#include <stdio.h>
#include <string.h>

#include "store/mailpath.h"

int auth_userdb_fill(const struct auth_settings *set,
		     const struct passwd_entry *entry,
		     struct auth_reply *reply, const char **error_r)
{
	enum maildrop_kind kind = set->mail_kind;
	const char *pattern = set->mail_pattern;
	int n;

	/* DESIGN.md: uid 0 is refused for mail access */
	if (entry->uid == 0 || entry->gid == 0) {
		*error_r = "uid or gid 0 refused for mail access";
		return -1;
	}
	n = snprintf(reply->user, sizeof(reply->user), "%s", entry->user);
	if (n < 0 || (size_t)n >= sizeof(reply->user)) {
		*error_r = "user name too long";
		return -1;
	}
	if (entry->mail != NULL &&
	    mailpath_parse(entry->mail, &kind, &pattern, error_r) < 0)
		return -1;
	if (mailpath_expand(pattern, entry->user, entry->home,
			    reply->mail_path, sizeof(reply->mail_path),
			    error_r) < 0)
		return -1;
	reply->mail_kind = (uint32_t)kind;
	reply->uid = entry->uid;
	reply->gid = entry->gid;
	reply->expire_days = entry->expire_days;
	reply->login_delay = entry->login_delay;
	reply->quota_bytes = entry->quota_bytes;
	reply->quota_messages = entry->quota_messages;
	reply->workarounds = entry->workarounds;
	if (entry->proxy_host != NULL &&
	    snprintf(reply->proxy_host, sizeof(reply->proxy_host), "%s",
		     entry->proxy_host) >= (int)sizeof(reply->proxy_host)) {
		*error_r = "proxy_host too long";
		return -1;
	}
	return 0;
}

/* The full address first, then its local part. */
static enum userdb_status userdb_find(struct userdb *db, const char *address,
				      const struct passwd_entry **entry_r)
{
	enum userdb_status st = USERDB_UNKNOWN;
	char local[AUTH_USER_MAX];
	const char *at;
	size_t len;

	*entry_r = NULL;
	if (mailpath_user_valid(address))
		st = userdb_get(db, address, entry_r);
	at = strchr(address, '@');
	if (st != USERDB_UNKNOWN || at == NULL)
		return st;
	len = (size_t)(at - address);
	if (len == 0 || len >= sizeof(local))
		return USERDB_UNKNOWN;
	memcpy(local, address, len);
	local[len] = '\0';
	return mailpath_user_valid(local) ? userdb_get(db, local, entry_r) :
					    USERDB_UNKNOWN;
}

bool auth_userdb_pending(const struct auth_settings *set, struct userdb *db,
			 const char *address)
{
	const struct passwd_entry *entry;
	char name[AUTH_USER_MAX];

	if (db == NULL ||
	    loginname_normalize_address(set, address, name, sizeof(name)) < 0)
		return false;
	return userdb_find(db, name, &entry) == USERDB_PENDING;
}

enum auth_result auth_userdb_lookup(const struct auth_settings *set,
				    struct userdb *db,
				    const char *address,
				    struct auth_reply *reply,
				    const char **error_r)
{
	const struct passwd_entry *entry;
	char name[AUTH_USER_MAX];
	uint64_t id = reply->id;

	memset(reply, 0, AUTH_REPLY_HDR);
	reply->id = id;
	reply->uid = reply->gid = -1;
	reply->expire_days = reply->login_delay = -1;
	reply->workarounds = -1;
	reply->quota_bytes = reply->quota_messages = -1;
	if (db == NULL) {
		*error_r = "no user database loaded";
		reply->result = AUTH_TEMPFAIL;
		return AUTH_TEMPFAIL;
	}
	/* the domain lower-cased (loginname.h); no other rewriting: '%'
	 * and '+' mean what they mean in an address */
	if (loginname_normalize_address(set, address, name, sizeof(name)) < 0)
		name[0] = '\0';
	switch (userdb_find(db, name, &entry)) {
	case USERDB_FOUND:
		break;
	case USERDB_UNKNOWN:
		reply->result = AUTH_FAILED;
		return AUTH_FAILED;
	case USERDB_ERROR:
	case USERDB_PENDING:
		*error_r = "the user database cannot answer";
		reply->result = AUTH_TEMPFAIL;
		return AUTH_TEMPFAIL;
	}
	if (auth_userdb_fill(set, entry, reply, error_r) < 0) {
		memset(reply->mail_path, 0, sizeof(reply->mail_path));
		reply->result = AUTH_PERMFAIL;
		return AUTH_PERMFAIL;
	}
	reply->result = AUTH_OK;
	return AUTH_OK;
}
