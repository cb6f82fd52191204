/* cmd_utf8.c: UTF8 and LANG (RFC 6856, see cmd_utf8.h). */
#include "serve/cmd_utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/saslprep.h"
#include "serve/session.h"
#include "serve/worker.h"

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

/* RFC 6856 2.: the catalogues: a tag, its description and the text of
 * the LANG reply itself. Every catalogue here says the same English
 * words (i-default, RFC 2277, is the language for those who named
 * none); response codes are never translated. */
static const struct {
	const char *tag, *description, *changed;
} lang_table[] = {
	[LANG_EN] = { "en", "English", "English selected" },
	[LANG_I_DEFAULT] = { "i-default", "Default language",
			     "default language selected" },
};

void cmd_utf8_capa(struct session *s)
{
	if (!cfg_of(s)->utf8)
		return;
	/* UTF8 USER: USER and PASS take UTF-8 (RFC 6856 3.) */
	session_reply_line(s, "UTF8 USER");
	session_reply_line(s, "LANG");
}

/* RFC 6856 3.: AUTHORIZATION only (the table says so), before any
 * successful login, no argument; again is no error. */
enum cmd_outcome cmd_utf8(struct session *s, const struct cmd_args *args)
{
	if (!cfg_of(s)->utf8) {
		session_reply(s, "-ERR UTF8 is not enabled on this server");
		return CMD_DONE;
	}
	s->utf8 = true;
	session_reply(s, "+OK UTF8 enabled");
	return CMD_DONE;
}

/* RFC 4647 3.3.1 basic filtering: the range is the tag or a prefix of
 * it ending at a "-", case-insensitively. */
static bool lang_matches(const char *range, const char *tag)
{
	size_t n = strlen(range);

	return strncasecmp(range, tag, n) == 0 &&
	       (tag[n] == '\0' || tag[n] == '-');
}

enum cmd_outcome cmd_lang(struct session *s, const struct cmd_args *args)
{
	size_t n = sizeof(lang_table) / sizeof(lang_table[0]), i;

	if (!cfg_of(s)->utf8) {
		session_reply(s, "-ERR LANG is not enabled on this server");
		return CMD_DONE;
	}
	if (args->argc == 0) {
		session_reply(s, "+OK language listing follows");
		for (i = 0; i < n; i++)
			session_reply_line(s, "%s %s", lang_table[i].tag,
					   lang_table[i].description);
		session_reply_line(s, ".");
		return CMD_DONE;
	}
	/* "*": the configured default */
	if (strcmp(args->argv[0], "*") == 0) {
		i = cfg_of(s)->lang_default;
	} else {
		for (i = 0; i < n; i++) {
			if (lang_matches(args->argv[0], lang_table[i].tag))
				break;
		}
	}
	if (i >= n) {
		session_reply(s, "-ERR no such language here; LANG lists "
			      "them");
		return CMD_DONE;
	}
	s->lang = (unsigned)i;
	session_reply(s, "+OK %s %s", lang_table[i].tag,
		      lang_table[i].changed);
	return CMD_DONE;
}

int cmd_utf8_prep(const struct session *s, const char *in, size_t len,
		  char *out, size_t size)
{
	char copy[AUTH_SECRET_MAX + AUTH_USER_MAX];
	int ret;

	if (len >= size || len >= sizeof(copy) || memchr(in, '\0', len))
		return -1;
	if (!s->utf8) {
		memcpy(out, in, len);
		out[len] = '\0';
		return 0;
	}
	memcpy(copy, in, len);
	copy[len] = '\0';
	ret = saslprep_string(copy, SASLPREP_QUERY, out, size);
	explicit_bzero(copy, sizeof(copy));
	return ret;
}

int cmd_utf8_prep_sasl(const struct session *s, unsigned char *data,
		       size_t len, size_t size)
{
	char part[AUTH_SECRET_MAX + AUTH_USER_MAX];
	unsigned char out[AUTH_SECRET_MAX * 3];
	size_t pos = 0, used = 0;

	if (!s->utf8)
		return (int)len;
	if (len > sizeof(out))
		return -1;
	while (pos <= len) {
		const unsigned char *nul = memchr(data + pos, '\0', len - pos);
		size_t plen = nul != NULL ? (size_t)(nul - (data + pos))
					  : len - pos;

		/* an empty part (PLAIN's absent authzid) stays empty */
		if (plen > 0) {
			if (cmd_utf8_prep(s, (const char *)data + pos, plen,
					  part, sizeof(part)) < 0 ||
			    used + strlen(part) + 1 > sizeof(out))
				goto out_fail;
			memcpy(out + used, part, strlen(part));
			used += strlen(part);
		}
		if (nul == NULL)
			break;
		out[used++] = '\0';
		pos += plen + 1;
	}
	if (used > size)
		goto out_fail;
	memcpy(data, out, used);
	explicit_bzero(out, sizeof(out));
	explicit_bzero(part, sizeof(part));
	return (int)used;
out_fail:
	explicit_bzero(out, sizeof(out));
	explicit_bzero(part, sizeof(part));
	return -1;
}
