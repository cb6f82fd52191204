/* mailpath.c: expansion of mail location patterns (see mailpath.h). */
#include "store/mailpath.h"

#include <string.h>

bool mailpath_user_valid(const char *user)
{
	const unsigned char *p = (const unsigned char *)user;
	const char *at;
	size_t len = strlen(user);

	if (len == 0 || len > MAILPATH_USER_MAX || user[0] == '.')
		return false;
	for (; *p != '\0'; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	/* %n and %d are path components of their own: "@x" would make %n
	 * empty and "a@.." would make %d the parent directory */
	at = strchr(user, '@');
	if (at == user)
		return false;
	if (at != NULL && at[1] == '.')
		return false;
	return true;
}

int mailpath_parse(const char *location, enum maildrop_kind *kind_r,
		   const char **pattern_r, const char **error_r)
{
	if (strncmp(location, "maildir:", 8) == 0) {
		*kind_r = MAILDROP_MAILDIR;
		*pattern_r = location + 8;
	} else if (strncmp(location, "mbox:", 5) == 0) {
		*kind_r = MAILDROP_MBOX;
		*pattern_r = location + 5;
	} else {
		*error_r = "mail location must start with maildir: or mbox:";
		return -1;
	}
	if (**pattern_r == '\0') {
		*error_r = "empty mail location pattern";
		return -1;
	}
	return 0;
}

/* Appends len octets of s at *pos, keeping room for the NUL. */
static bool mailpath_append(char *out, size_t out_size, size_t *pos,
			    const char *s, size_t len)
{
	if (len >= out_size - *pos)
		return false;
	memcpy(out + *pos, s, len);
	*pos += len;
	return true;
}

int mailpath_expand(const char *pattern, const char *user, const char *home,
		    char *out, size_t out_size, const char **error_r)
{
	const char *p = pattern, *at, *domain;
	size_t pos = 0, local_len;
	bool ok = true;

	if (out_size == 0) {
		*error_r = "no room for the mail path";
		return -1;
	}
	out[0] = '\0';
	if (!mailpath_user_valid(user)) {
		*error_r = "user name not usable in a path";
		return -1;
	}
	at = strchr(user, '@');
	local_len = at != NULL ? (size_t)(at - user) : strlen(user);
	domain = at != NULL ? at + 1 : "";

	if (p[0] == '~') {
		if (p[1] != '\0' && p[1] != '/') {
			*error_r = "~user in a mail location is not supported";
			return -1;
		}
		if (home == NULL || home[0] == '\0') {
			*error_r = "mail location uses ~ but the user has "
				   "no home";
			return -1;
		}
		ok = mailpath_append(out, out_size, &pos, home, strlen(home));
		p++;
	}
	for (; ok && *p != '\0'; p++) {
		if (*p == ':') {
			*error_r = "mail location options (\":\") are not "
				   "supported";
			goto out_fail;
		}
		if (*p != '%') {
			ok = mailpath_append(out, out_size, &pos, p, 1);
			continue;
		}
		switch (*++p) {
		case 'u':
			ok = mailpath_append(out, out_size, &pos, user,
					     strlen(user));
			break;
		case 'n':
			ok = mailpath_append(out, out_size, &pos, user,
					     local_len);
			break;
		case 'd':
			ok = mailpath_append(out, out_size, &pos, domain,
					     strlen(domain));
			break;
		case '%':
			ok = mailpath_append(out, out_size, &pos, "%", 1);
			break;
		case '\0':
			*error_r = "mail location ends with a lone %";
			goto out_fail;
		default:
			*error_r = "unknown %-variable in mail location";
			goto out_fail;
		}
	}
	if (!ok) {
		*error_r = "mail path too long";
		goto out_fail;
	}
	out[pos] = '\0';
	if (out[0] != '/') {
		*error_r = "mail path is not absolute";
		goto out_fail;
	}
	return 0;

out_fail:
	out[0] = '\0';
	return -1;
}
