/* lmtp_parse.c: LMTP command line syntax (see lmtp_parse.h). */
#include "deliver/lmtp_parse.h"

#include <gsasl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/strnum.h"

int lmtp_parse_line(char *line, struct lmtp_args *args_r)
{
	size_t verb_len = strcspn(line, " ");
	char *p;

	memset(args_r, 0, sizeof(*args_r));
	if (verb_len == 0 || verb_len >= sizeof(args_r->verb))
		return -1;
	memcpy(args_r->verb, line, verb_len);
	args_r->verb[verb_len] = '\0';
	p = line + verb_len;
	if (*p == ' ')
		p++;
	args_r->rest = p;
	/* the tokens are counted on a view that keeps rest intact: MAIL
	 * and RCPT parse rest themselves (a quoted local part may hold a
	 * space, RFC 5321 4.1.2) */
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (args_r->argc < LMTP_ARGS_MAX)
			args_r->argv[args_r->argc] = p;
		args_r->argc++;
		p += strcspn(p, " ");
	}
	return 0;
}

/* The token at p, up to a space or the end, copied into out (NUL
 * terminated). Returns the length, or -1 when it does not fit. */
static int token_copy(const char *p, char *out, size_t size)
{
	size_t len = strcspn(p, " ");

	if (len >= size)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return (int)len;
}

/* RFC 5321 4.1.2: "<" [ A-d-l ":" ] Mailbox ">" | "<>". Copies the
 * mailbox (source route dropped, RFC 5321 C: MUST accept and MAY
 * ignore) into out; *end_r is just after '>'. Control bytes are refused
 * everywhere; a space only inside a quoted string. 0 or -1. */
static int parse_path(const char *p, char *out, size_t size,
		      const char **end_r)
{
	const char *start, *q;
	bool quoted = false;
	size_t len;

	if (*p != '<')
		return -1;
	start = ++p;
	for (q = p; *q != '\0'; q++) {
		unsigned char c = (unsigned char)*q;

		if (c < 0x20 || c == 0x7f)
			return -1;
		if (quoted && c == '\\') {
			if (q[1] == '\0')
				return -1;
			q++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == ' ' || c == '<'))
			return -1;
		else if (!quoted && c == '>')
			break;
	}
	if (*q != '>' || (size_t)(q - start) + 2 > LMTP_PATH_MAX)
		return -1;
	*end_r = q + 1;
	if (*start == '@') {
		/* A-d-l: "@a,@b:" before the mailbox */
		const char *colon = memchr(start, ':', (size_t)(q - start));

		if (colon == NULL)
			return -1;
		start = colon + 1;
		if (start == q)
			return -1;
	}
	len = (size_t)(q - start);
	if (len >= size)
		return -1;
	memcpy(out, start, len);
	out[len] = '\0';
	return 0;
}

/* "FROM:" / "TO:" (case-insensitive), one optional space (some clients
 * send it, RFC 5321 3.3 does not), then the path. *params_r points after
 * it. 0, or -1 for a syntax error. */
static int parse_prefixed_path(const char *rest, const char *prefix,
			       char *out, size_t size, const char **params_r)
{
	size_t plen = strlen(prefix);
	const char *end;

	if (strncasecmp(rest, prefix, plen) != 0)
		return -1;
	rest += plen;
	if (*rest == ' ')
		rest++;
	if (parse_path(rest, out, size, &end) < 0)
		return -1;
	if (*end != '\0' && *end != ' ')
		return -1;
	while (*end == ' ')
		end++;
	*params_r = end;
	return 0;
}

/* RFC 3461 4.: xtext: "+" two upper-case hex digits, or a byte 33..126
 * other than "+" and "=". Decodes into out. 0 or -1. */
static int xtext_decode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '+') {
			const char *hi = in[1] != '\0' ? strchr(hex, in[1]) :
				NULL;
			const char *lo = hi != NULL && in[2] != '\0' ?
				strchr(hex, in[2]) : NULL;

			if (hi == NULL || lo == NULL)
				return -1;
			c = (unsigned char)(((hi - hex) << 4) | (lo - hex));
			in += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -1;
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* The next "KEY[=VALUE]" of params into key/value; *params advances.
 * 1 found, 0 at the end, -1 when too long. */
static int next_param(const char **params, char *key, size_t key_size,
		      char *value, size_t value_size, bool *has_value_r)
{
	char token[LMTP_LINE_MAX];
	const char *p = *params;
	char *eq;
	int len;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	len = token_copy(p, token, sizeof(token));
	if (len < 0)
		return -1;
	*params = p + len;
	eq = strchr(token, '=');
	*has_value_r = eq != NULL;
	if (eq != NULL)
		*eq = '\0';
	if (token[0] == '\0' || strlen(token) >= key_size ||
	    (eq != NULL && strlen(eq + 1) >= value_size))
		return -1;
	strcpy(key, token);
	strcpy(value, eq != NULL ? eq + 1 : "");
	return 1;
}

static const char reply_mail_syntax[] =
	"501 5.5.4 Syntax: MAIL FROM:<address> [parameters]";
static const char reply_rcpt_syntax[] =
	"501 5.5.4 Syntax: RCPT TO:<address> [parameters]";
static const char reply_param_unknown[] =
	"555 5.5.4 Unsupported parameter";
static const char reply_param_dup[] = "501 5.5.4 Duplicate parameter";

static int mail_param(struct lmtp_mail *m, const char *key,
		      const char *value, bool has_value, uint64_t max_size,
		      unsigned *seen, const char **reply_r)
{
	static const char *const names[] = { "SIZE", "BODY", "SMTPUTF8",
					     "RET", "ENVID", "AUTH" };
	char auth[LMTP_PATH_MAX];
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(key, names[i]) == 0)
			break;
	}
	if (i == sizeof(names) / sizeof(names[0])) {
		*reply_r = reply_param_unknown;
		return -1;
	}
	if (*seen & (1u << i)) {
		*reply_r = reply_param_dup;
		return -1;
	}
	*seen |= 1u << i;
	if (i == 2) {
		/* RFC 6531 3.4: SMTPUTF8 takes no value */
		if (has_value) {
			*reply_r = "501 5.5.4 SMTPUTF8 takes no value";
			return -1;
		}
		m->smtputf8 = true;
		return 0;
	}
	if (!has_value || *value == '\0') {
		*reply_r = "501 5.5.4 Parameter needs a value";
		return -1;
	}
	switch (i) {
	case 0: /* RFC 1870 6. */
		if (strnum_parse_u64(value, UINT64_MAX, &m->size) < 0) {
			*reply_r = "501 5.5.4 Bad SIZE value";
			return -1;
		}
		m->have_size = true;
		if (max_size != 0 && m->size > max_size) {
			*reply_r = "552 5.3.4 Message size exceeds fixed "
				   "maximum message size";
			return -1;
		}
		return 0;
	case 1: /* RFC 6152 2.; BINARYMIME (RFC 3030) is not offered */
		if (strcasecmp(value, "7BIT") == 0)
			m->body = LMTP_BODY_7BIT;
		else if (strcasecmp(value, "8BITMIME") == 0)
			m->body = LMTP_BODY_8BITMIME;
		else {
			*reply_r = "555 5.5.4 Unsupported BODY value";
			return -1;
		}
		return 0;
	case 3: /* RFC 3461 4.3 */
		if (strcasecmp(value, "FULL") == 0)
			m->ret = LMTP_RET_FULL;
		else if (strcasecmp(value, "HDRS") == 0)
			m->ret = LMTP_RET_HDRS;
		else {
			*reply_r = "501 5.5.4 Bad RET value";
			return -1;
		}
		return 0;
	case 5:
		/* RFC 4954 5.: AUTH=<mailbox> or AUTH=<> in xtext, which
		 * only matters to a server that relays: checked, ignored */
		if (xtext_decode(value, auth, sizeof(auth)) < 0) {
			*reply_r = "501 5.5.4 Bad AUTH value";
			return -1;
		}
		return 0;
	default: /* ENVID, RFC 3461 4.4 */
		if (xtext_decode(value, m->envid, sizeof(m->envid)) < 0) {
			*reply_r = "501 5.5.4 Bad ENVID value";
			return -1;
		}
		return 0;
	}
}

int lmtp_parse_mail(const struct lmtp_args *args, uint64_t max_size,
		    struct lmtp_mail *mail_r, const char **reply_r)
{
	char key[16], value[LMTP_LINE_MAX];
	const char *params;
	unsigned seen = 0;
	bool has_value;
	int ret;

	memset(mail_r, 0, sizeof(*mail_r));
	if (parse_prefixed_path(args->rest, "FROM:", mail_r->sender,
				sizeof(mail_r->sender), &params) < 0) {
		*reply_r = strncasecmp(args->rest, "FROM:", 5) == 0 ?
			"501 5.1.7 Bad sender address syntax" :
			reply_mail_syntax;
		return -1;
	}
	while ((ret = next_param(&params, key, sizeof(key), value,
				 sizeof(value), &has_value)) > 0) {
		if (mail_param(mail_r, key, value, has_value, max_size,
			       &seen, reply_r) < 0)
			return -1;
	}
	if (ret < 0) {
		*reply_r = reply_mail_syntax;
		return -1;
	}
	return 0;
}

/* RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY. */
static int parse_notify(char *value, unsigned *notify_r)
{
	char *save = NULL, *item;
	unsigned bits = 0;

	for (item = strtok_r(value, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		unsigned bit;

		if (strcasecmp(item, "NEVER") == 0)
			bit = LMTP_NOTIFY_NEVER;
		else if (strcasecmp(item, "SUCCESS") == 0)
			bit = LMTP_NOTIFY_SUCCESS;
		else if (strcasecmp(item, "FAILURE") == 0)
			bit = LMTP_NOTIFY_FAILURE;
		else if (strcasecmp(item, "DELAY") == 0)
			bit = LMTP_NOTIFY_DELAY;
		else
			return -1;
		if (bits & bit)
			return -1;
		bits |= bit;
	}
	if (bits == 0 || ((bits & LMTP_NOTIFY_NEVER) &&
			  bits != LMTP_NOTIFY_NEVER))
		return -1;
	*notify_r = bits;
	return 0;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext; addr-type is an atom. */
static int parse_orcpt(const char *value, char *out, size_t size)
{
	const char *semi = strchr(value, ';');
	size_t type_len;

	if (semi == NULL || semi == value)
		return -1;
	type_len = (size_t)(semi - value);
	for (size_t i = 0; i < type_len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\".[]", c))
			return -1;
	}
	if (type_len + 1 >= size)
		return -1;
	memcpy(out, value, type_len + 1);
	if (xtext_decode(semi + 1, out + type_len + 1,
			 size - type_len - 1) < 0 ||
	    out[type_len + 1] == '\0')
		return -1;
	return 0;
}

int lmtp_parse_rcpt(const struct lmtp_args *args,
		    struct lmtp_rcpt_args *rcpt_r, const char **reply_r)
{
	char key[16], value[LMTP_LINE_MAX];
	const char *params;
	bool has_value, seen_notify = false, seen_orcpt = false;
	int ret;

	memset(rcpt_r, 0, sizeof(*rcpt_r));
	if (parse_prefixed_path(args->rest, "TO:", rcpt_r->address,
				sizeof(rcpt_r->address), &params) < 0 ||
	    rcpt_r->address[0] == '\0') {
		*reply_r = strncasecmp(args->rest, "TO:", 3) == 0 ?
			"501 5.1.3 Bad recipient address syntax" :
			reply_rcpt_syntax;
		return -1;
	}
	while ((ret = next_param(&params, key, sizeof(key), value,
				 sizeof(value), &has_value)) > 0) {
		bool notify = strcasecmp(key, "NOTIFY") == 0;

		if (!notify && strcasecmp(key, "ORCPT") != 0) {
			*reply_r = reply_param_unknown;
			return -1;
		}
		if (notify ? seen_notify : seen_orcpt) {
			*reply_r = reply_param_dup;
			return -1;
		}
		if (notify) {
			seen_notify = true;
			if (!has_value ||
			    parse_notify(value, &rcpt_r->notify) < 0) {
				*reply_r = "501 5.5.4 Bad NOTIFY value";
				return -1;
			}
		} else {
			seen_orcpt = true;
			if (!has_value ||
			    parse_orcpt(value, rcpt_r->orcpt,
					sizeof(rcpt_r->orcpt)) < 0) {
				*reply_r = "501 5.5.4 Bad ORCPT value";
				return -1;
			}
		}
	}
	if (ret < 0) {
		*reply_r = reply_rcpt_syntax;
		return -1;
	}
	return 0;
}

int lmtp_parse_bdat(const struct lmtp_args *args, uint64_t *size_r,
		    bool *last_r, const char **reply_r)
{
	char size[24];

	*reply_r = "501 5.5.4 Syntax: BDAT size [LAST]";
	if (args->argc < 1 || args->argc > 2 ||
	    token_copy(args->argv[0], size, sizeof(size)) < 0 ||
	    strnum_parse_u64(size, UINT64_MAX, size_r) < 0)
		return -1;
	*last_r = false;
	if (args->argc == 2) {
		char word[8];

		if (token_copy(args->argv[1], word, sizeof(word)) < 0 ||
		    strcasecmp(word, "LAST") != 0)
			return -1;
		*last_r = true;
	}
	return 0;
}

/* Copies len octets (no NUL among them) into out as a string. 0 or -1
 * when it does not fit. */
static int plain_copy(const char *p, size_t len, char *out, size_t size)
{
	if (len >= size || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* RFC 4616 2.: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
static int plain_split(const char *msg, size_t len,
		       struct lmtp_auth_plain *plain_r)
{
	const char *nul1 = memchr(msg, '\0', len), *nul2;

	if (nul1 == NULL)
		return -1;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL || nul2 == nul1 + 1 || nul2 + 1 == msg + len)
		return -1;
	if (plain_copy(msg, (size_t)(nul1 - msg), plain_r->authzid,
		       sizeof(plain_r->authzid)) < 0 ||
	    plain_copy(nul1 + 1, (size_t)(nul2 - nul1 - 1), plain_r->user,
		       sizeof(plain_r->user)) < 0 ||
	    plain_copy(nul2 + 1, len - (size_t)(nul2 + 1 - msg),
		       plain_r->password, sizeof(plain_r->password)) < 0)
		return -1;
	return 0;
}

int lmtp_parse_auth_plain(const char *b64, struct lmtp_auth_plain *plain_r,
			  const char **reply_r)
{
	char *msg = NULL;
	size_t len = 0;
	int ret = 0;

	memset(plain_r, 0, sizeof(*plain_r));
	/* RFC 4954 4.: "=" is an empty initial response; PLAIN has none */
	if (strcmp(b64, "=") == 0) {
		*reply_r = "535 5.7.8 Authentication credentials invalid";
		return -1;
	}
	if (b64[0] == '\0' ||
	    gsasl_base64_from(b64, strlen(b64), &msg, &len) != GSASL_OK) {
		*reply_r = "501 5.5.2 Cannot Base64-decode Client responses";
		return -1;
	}
	if (msg == NULL || plain_split(msg, len, plain_r) < 0) {
		explicit_bzero(plain_r, sizeof(*plain_r));
		*reply_r = "535 5.7.8 Authentication credentials invalid";
		ret = -1;
	}
	if (msg != NULL) {
		explicit_bzero(msg, len);
		gsasl_free(msg);
	}
	return ret;
}
