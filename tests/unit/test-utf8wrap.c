/* test-utf8wrap.c: the RFC 6858-style surrogate: its size known before
 * it is made (for any header, body and chunking), ASCII only, no line
 * starting with ".", the header fields as utf8wrap.h says, and the
 * original whole in its base64 part. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "store/msgconv.h"
#include "store/utf8wrap.h"
#include "unit.h"

struct mem {
	const char *data;
	size_t len, pos, chunk;
};

static ssize_t mem_read(void *ctx, char *buf, size_t size)
{
	struct mem *m = ctx;
	size_t n = m->len - m->pos;

	if (n > size)
		n = size;
	if (n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static uint64_t retr_size(const char *msg, size_t len)
{
	struct msgsize ms;

	msgsize_init(&ms);
	msgsize_feed(&ms, msg, len);
	return msgsize_finish(&ms);
}

/* The surrogate of msg read with chunk-octet reads, out_size at a time. */
static char *wrap(const char *msg, size_t len, size_t chunk, size_t step,
		  size_t *out_len_r, uint64_t *want_r)
{
	struct mem m = { msg, len, 0, chunk };
	struct utf8wrap *w;
	const char *error;
	char *out = malloc(len * 3 + 4096);
	size_t n = 0;
	ssize_t got;

	if (out == NULL || utf8wrap_open(mem_read, &m, &w, &error) < 0)
		abort();
	*want_r = utf8wrap_total(w, retr_size(msg, len));
	while ((got = utf8wrap_read(w, out + n, step)) > 0)
		n += (size_t)got;
	utf8wrap_destroy(&w);
	*out_len_r = n;
	return out;
}

static bool ascii_lines(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)p[i] >= 0x80 || p[i] == '\0')
			return false;
		if ((i == 0 || p[i - 1] == '\n') && p[i] == '.')
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

int main(void)
{
	static const char msg[] =
		"From: J\xc3\xb6rg <j@x.example>\n"
		"To: a@b.example,\n c@d.example\n"
		"Subject: Gr\xc3\xbc\xc3\x9f" "e \xe2\x9c\x93\xe2\x9c\x93 aus "
		"K\xc3\xb6ln, mit einem langen Betreff\n"
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
		"Message-ID: <\xc3\xa9@x>\n"
		"X-Dropped: yes\n"
		"\n"
		".a dotted line\nbody \xc3\xa9\n";
	size_t len = sizeof(msg) - 1, out_len;
	uint64_t want;
	char *out, *b64, *end;
	unsigned char *orig;
	int orig_len;
	bool all_sizes = true;

	for (size_t chunk = 1; chunk < 300; chunk += 29) {
		for (size_t step = 1; step < 200; step += 67) {
			out = wrap(msg, len, chunk, step, &out_len, &want);
			all_sizes &= out_len == want;
			free(out);
		}
	}
	CHECK(all_sizes, "the size is known before, for every chunking");
	/* every body length around a base64 line (57 octets) */
	for (size_t body = 0; body < 200; body++) {
		char *m = malloc(64 + body);

		memcpy(m, "Subject: \xc3\xa9\n\n", 13);
		memset(m + 13, 'x', body);
		out = wrap(m, 13 + body, 4096, 4096, &out_len, &want);
		all_sizes &= out_len == want && ascii_lines(out, out_len);
		free(out);
		free(m);
	}
	CHECK(all_sizes, "the size for bodies of 0..199 octets, ASCII lines");

	out = wrap(msg, len, 7, 4096, &out_len, &want);
	out[out_len] = '\0';
	CHECK(ascii_lines(out, out_len), "ASCII, CRLF, no line starts with .");
	CHECK(strstr(out, "From: =?UTF-8?B?") != NULL &&
	      strstr(out, "?= :;\r\n") != NULL, "From: as an encoded group");
	CHECK(strstr(out, "To: a@b.example,\r\n c@d.example\r\n") != NULL,
	      "an ASCII field copied, folded as it was");
	CHECK(strstr(out, "Subject: =?UTF-8?B?") != NULL &&
	      strstr(out, "?=\r\n =?UTF-8?B?") != NULL,
	      "a long Subject as several encoded words");
	CHECK(strstr(out, "Date: Mon, 1 Jan 2024") != NULL &&
	      strstr(out, "Message-ID") == NULL &&
	      strstr(out, "X-Dropped") == NULL,
	      "Date kept; a UTF-8 Message-ID and other fields dropped");
	b64 = strstr(out, "original.u8msg\"\r\n\r\n");
	CHECK(b64 != NULL, "the message/global part");
	if (b64 != NULL) {
		char *clean = malloc(out_len), *q = clean;

		b64 += strlen("original.u8msg\"\r\n\r\n");
		end = strstr(b64, "--=_satchel");
		for (char *p = b64; p < end; p++) {
			if (*p != '\r' && *p != '\n')
				*q++ = *p;
		}
		orig = malloc((size_t)(q - clean));
		orig_len = EVP_DecodeBlock(orig, (unsigned char *)clean,
					   (int)(q - clean));
		/* EVP_DecodeBlock keeps the padding octets: drop them */
		if (q - clean >= 2 && q[-1] == '=')
			orig_len -= q[-2] == '=' ? 2 : 1;
		CHECK((uint64_t)orig_len == retr_size(msg, len) &&
		      memcmp(orig, "From: J\xc3\xb6rg <j@x.example>\r\n", 27) == 0 &&
		      memmem(orig, (size_t)orig_len, "\r\n\r\n.a dotted line\r\n",
			     20) != NULL, "the original whole, CRLF, unstuffed");
		free(orig);
		free(clean);
	}
	free(out);
	return unit_done();
}
