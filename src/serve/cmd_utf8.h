/* cmd_utf8.h: RFC 6856 in the session: UTF8 (UTF-8 user names,
 * passwords and message headers), LANG (the language of free reply
 * text: the en and i-default catalogues), their CAPA lines, and the
 * preparation of credentials sent in UTF-8 mode (SASLprep, RFC 4013, so
 * a name typed in another Unicode form is the same name). Both are on
 * unless utf8 = no. */
#ifndef SATCHEL_CMD_UTF8_H
#define SATCHEL_CMD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "serve/cmdparse.h"

struct session;

enum cmd_outcome cmd_utf8(struct session *s, const struct cmd_args *args);
enum cmd_outcome cmd_lang(struct session *s, const struct cmd_args *args);
void cmd_utf8_capa(struct session *s);

/* In UTF-8 mode: in (len octets, NULs allowed only when nul_ok... never
 * here) must be valid UTF-8 and SASLprep must accept it; out (size
 * octets) gets the prepared string. Outside UTF-8 mode it is copied as
 * it is. 0, or -1 (not UTF-8, a prohibited character, too long). */
int cmd_utf8_prep(const struct session *s, const char *in, size_t len,
		  char *out, size_t size);

/* A SASL PLAIN or LOGIN message in UTF-8 mode (RFC 4616 says the server
 * prepares authcid and password): each NUL-separated part prepared in
 * place (data has room for size octets). New length, or -1. */
int cmd_utf8_prep_sasl(const struct session *s, unsigned char *data,
		       size_t len, size_t size);

#endif
