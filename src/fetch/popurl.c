/* popurl.c: RFC 2384 POP URLs (popurl.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fetch/popurl.h"
#include "util/strnum.h"

static const struct {
	const char *scheme;
	bool implicit_tls;
} popurl_schemes[] = {
	{ "pop://", false }, { "pops://", true },
	{ "pop3://", false }, { "pop3s://", true },
};

/* %-decodes text[0..len) into out (size incl. the NUL). A decoded
 * control octet or NUL is refused: it would reach a command line. */
static int popurl_decode(const char *text, size_t len, char *out,
			 size_t size, const char **error_r)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '%') {
			int hi = i + 2 < len ? strnum_hex_digit(text[i + 1]) : -1;
			int lo = i + 2 < len ? strnum_hex_digit(text[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				*error_r = "bad %-escape in the URL";
				return -1;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			*error_r = "a control character in the URL";
			return -1;
		}
		if (o + 1 >= size) {
			*error_r = "a part of the URL is too long";
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int popurl_port(const char *text, size_t len, uint16_t *port_r,
		       const char **error_r)
{
	char buf[8];
	uint64_t n;

	if (len == 0 || len >= sizeof(buf)) {
		*error_r = "bad port";
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (strnum_parse_u64(buf, 65535, &n) < 0 || n == 0) {
		*error_r = "bad port";
		return -1;
	}
	*port_r = (uint16_t)n;
	return 0;
}

/* host[:port], host an IPv6 literal in brackets or a name/IPv4 of
 * letters, digits, '-', '.' and '_'. */
static int popurl_hostport(const char *text, size_t len, struct popurl *url,
			   const char **error_r)
{
	const char *host = text, *colon;
	size_t hlen, i;

	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);

		if (close == NULL) {
			*error_r = "bad IPv6 literal";
			return -1;
		}
		host = text + 1;
		hlen = (size_t)(close - host);
		colon = close + 1 < text + len ? close + 1 : NULL;
		if (colon != NULL && *colon != ':') {
			*error_r = "junk after the IPv6 literal";
			return -1;
		}
		for (i = 0; i < hlen; i++) {
			if (strnum_hex_digit(host[i]) < 0 && host[i] != ':' &&
			    host[i] != '.') {
				*error_r = "bad IPv6 literal";
				return -1;
			}
		}
	} else {
		colon = memchr(text, ':', len);
		hlen = colon != NULL ? (size_t)(colon - text) : len;
		for (i = 0; i < hlen; i++) {
			char c = host[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			      c == '_')) {
				*error_r = "bad host name";
				return -1;
			}
		}
	}
	if (hlen == 0 || hlen > POPURL_HOST_MAX) {
		*error_r = "no host, or host too long";
		return -1;
	}
	memcpy(url->host, host, hlen);
	url->host[hlen] = '\0';
	if (colon != NULL)
		return popurl_port(colon + 1, (size_t)(text + len - colon - 1),
				   &url->port, error_r);
	return 0;
}

/* user[;AUTH=mech] */
static int popurl_userinfo(const char *text, size_t len, struct popurl *url,
			   const char **error_r)
{
	const char *semi = memchr(text, ';', len);
	size_t ulen = semi != NULL ? (size_t)(semi - text) : len;
	char mech[POPURL_AUTH_MAX + 1];
	size_t i;

	if (memchr(text, ':', ulen) != NULL) {
		*error_r = "a password in the URL is not allowed (RFC 2384)";
		return -1;
	}
	if (popurl_decode(text, ulen, url->user, sizeof(url->user),
			  error_r) < 0)
		return -1;
	if (semi == NULL)
		return 0;
	len -= ulen + 1;
	text = semi + 1;
	if (len < 5 || strncasecmp(text, "AUTH=", 5) != 0) {
		*error_r = "only ;AUTH= may follow the user (RFC 2384)";
		return -1;
	}
	if (popurl_decode(text + 5, len - 5, mech, sizeof(mech), error_r) <
	    0)
		return -1;
	if (strcmp(mech, "*") == 0) {
		url->auth = POPURL_AUTH_ANY;
		return 0;
	}
	if (strcasecmp(mech, "+APOP") == 0) {
		url->auth = POPURL_AUTH_APOP;
		return 0;
	}
	if (strcasecmp(mech, "+USER") == 0) {
		url->auth = POPURL_AUTH_USER;
		return 0;
	}
	/* RFC 4422 3.1: SASL names are 1-20 of A-Z 0-9 - _ */
	for (i = 0; mech[i] != '\0'; i++) {
		char c = mech[i];

		if (c >= 'a' && c <= 'z')
			mech[i] = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == '-' || c == '_')) {
			*error_r = "bad SASL mechanism name";
			return -1;
		}
	}
	if (i == 0 || i > 20) {
		*error_r = "bad SASL mechanism name";
		return -1;
	}
	url->auth = POPURL_AUTH_SASL;
	memcpy(url->mech, mech, i + 1);
	return 0;
}

int popurl_parse(const char *text, struct popurl *url, const char **error_r)
{
	const char *rest = NULL, *end, *at;
	size_t i, n;

	memset(url, 0, sizeof(*url));
	for (i = 0; i < sizeof(popurl_schemes) / sizeof(popurl_schemes[0]);
	     i++) {
		n = strlen(popurl_schemes[i].scheme);
		if (strncasecmp(text, popurl_schemes[i].scheme, n) == 0) {
			rest = text + n;
			url->implicit_tls = popurl_schemes[i].implicit_tls;
			break;
		}
	}
	if (rest == NULL) {
		*error_r = "unknown scheme (pop://, pops://)";
		return -1;
	}
	url->port = url->implicit_tls ? 995 : 110;
	end = rest + strcspn(rest, "/?#");
	if (*end != '\0' && strcmp(end, "/") != 0) {
		*error_r = "a POP URL has no path, query or fragment";
		return -1;
	}
	/* the last '@' ends the user: hosts hold none */
	at = NULL;
	for (const char *p = rest; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL &&
	    popurl_userinfo(rest, (size_t)(at - rest), url, error_r) < 0)
		return -1;
	return popurl_hostport(at != NULL ? at + 1 : rest,
			       (size_t)(end - (at != NULL ? at + 1 : rest)),
			       url, error_r);
}

/* Appends s %-encoding what a URL's user or mech may not hold. */
static int popurl_encode(const char *s, char *out, size_t size, size_t *o)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("-._~+*!$'()", c);
		int n = plain ? snprintf(out + *o, size - *o, "%c", c) :
				snprintf(out + *o, size - *o, "%%%02X", c);

		if (n < 0 || (size_t)n >= size - *o)
			return -1;
		*o += (size_t)n;
	}
	return 0;
}

int popurl_format(const struct popurl *url, char *out, size_t size)
{
	size_t o = 0;
	int n;

	n = snprintf(out, size, "%s", url->implicit_tls ? "pops://" : "pop://");
	if (n < 0 || (size_t)n >= size)
		return -1;
	o = (size_t)n;
	if (url->user[0] != '\0' && popurl_encode(url->user, out, size, &o) < 0)
		return -1;
	if (url->auth != POPURL_AUTH_USER) {
		const char *mech = url->auth == POPURL_AUTH_ANY ? "*" :
				   url->auth == POPURL_AUTH_APOP ? "+APOP" :
								  url->mech;

		n = snprintf(out + o, size - o, ";AUTH=");
		if (n < 0 || (size_t)n >= size - o)
			return -1;
		o += (size_t)n;
		if (popurl_encode(mech, out, size, &o) < 0)
			return -1;
	}
	n = snprintf(out + o, size - o, "%s%s%s%s:%u",
		     url->user[0] != '\0' || url->auth != POPURL_AUTH_USER ?
			     "@" : "",
		     strchr(url->host, ':') ? "[" : "", url->host,
		     strchr(url->host, ':') ? "]" : "", url->port);
	if (n < 0 || (size_t)n >= size - o)
		return -1;
	return (int)(o + (size_t)n);
}
