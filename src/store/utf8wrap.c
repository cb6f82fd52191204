/* utf8wrap.c: the ASCII surrogate of a message that needs UTF-8 mode
 * (utf8wrap.h). Base64 is OpenSSL's; the rest is fixed text. */
#include "store/utf8wrap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "store/msgconv.h"

/* Base64 never holds "-" or "_", the note is fixed: no line of the
 * surrogate can be this boundary. */
#define WRAP_BOUNDARY "=_satchel-utf8-surrogate_="
/* RFC 2045 6.8: 76 characters per line, from 57 octets */
#define WRAP_LINE_IN 57
#define WRAP_LINE_OUT 76

static const char wrap_mime[] =
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"" WRAP_BOUNDARY "\"\r\n"
	"\r\n"
	"--" WRAP_BOUNDARY "\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"This message has UTF-8 in its header, which your mail program did\r\n"
	"not ask for (POP3 UTF8, RFC 6856). The original is attached whole.\r\n"
	"\r\n"
	"--" WRAP_BOUNDARY "\r\n"
	"Content-Type: message/global\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"Content-Disposition: attachment; filename=\"original.u8msg\"\r\n"
	"\r\n";
static const char wrap_suffix[] = "--" WRAP_BOUNDARY "--\r\n";

struct wrapbuf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void wb_add(struct wrapbuf *b, const char *p, size_t n)
{
	if (b->failed || n == 0)
		return; /* n 0: data may still be NULL, no memcpy on it */
	if (b->len + n > b->cap) {
		size_t cap = b->cap == 0 ? 1024 : b->cap;
		char *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void wb_str(struct wrapbuf *b, const char *s)
{
	wb_add(b, s, strlen(s));
}

enum wrap_field { WRAP_ADDRESS, WRAP_TEXT, WRAP_TOKEN };

static const struct {
	const char *name;
	enum wrap_field kind;
} wrap_fields[] = {
	{ "From", WRAP_ADDRESS }, { "To", WRAP_ADDRESS },
	{ "Cc", WRAP_ADDRESS }, { "Subject", WRAP_TEXT },
	{ "Date", WRAP_TOKEN }, { "Message-ID", WRAP_TOKEN },
};

/* The unfolded value (CR LF removed) as RFC 2047 encoded words of whole
 * UTF-8 characters, one per line (each at most 75 characters: 45 octets
 * make 60 base64 characters). */
static void wb_encoded_words(struct wrapbuf *b, const char *v, size_t len)
{
	unsigned char *text = malloc(len + 1), out[64];
	size_t tlen = 0, pos = 0;

	if (text == NULL) {
		b->failed = true;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '\r' && v[i] != '\n')
			text[tlen++] = (unsigned char)v[i];
	}
	while (pos < tlen) {
		size_t n = tlen - pos < 45 ? tlen - pos : 45;

		/* never split a character: end before a continuation */
		while (pos + n < tlen && n > 1 &&
		       (text[pos + n] & 0xc0) == 0x80)
			n--;
		EVP_EncodeBlock(out, text + pos, (int)n);
		wb_str(b, pos == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		wb_str(b, (const char *)out);
		wb_str(b, "?=");
		pos += n;
	}
	free(text);
}

/* Printable ASCII, blanks and line ends: what may be copied as it is
 * (a NUL or another control octet is encoded like UTF-8 would be). */
static bool is_ascii(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x7f || (c < 0x20 && c != '\t' && c != '\r' &&
				  c != '\n'))
			return false;
	}
	return true;
}

/* One header field (its lines, continuations included). */
static void wrap_field(struct wrapbuf *b, const char *field, size_t len)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len;

	if (colon == NULL)
		return;
	name_len = (size_t)(colon - field);
	for (size_t i = 0; i < sizeof(wrap_fields) / sizeof(wrap_fields[0]);
	     i++) {
		const char *value = colon + 1;
		size_t vlen = len - name_len - 1;

		if (strlen(wrap_fields[i].name) != name_len ||
		    strncasecmp(field, wrap_fields[i].name, name_len) != 0)
			continue;
		while (vlen > 0 && (value[vlen - 1] == '\n' ||
				    value[vlen - 1] == '\r'))
			vlen--;
		while (vlen > 0 && (*value == ' ' || *value == '\t')) {
			value++;
			vlen--;
		}
		if (is_ascii(field, len)) {
			/* as it was, with CRLF line ends */
			for (size_t k = 0; k < len; k++) {
				if (field[k] == '\n' &&
				    (k == 0 || field[k - 1] != '\r'))
					wb_add(b, "\r", 1);
				if (field[k] != '\r' || (k + 1 < len &&
							 field[k + 1] == '\n'))
					wb_add(b, field + k, 1);
			}
			if (field[len - 1] != '\n')
				wb_str(b, "\r\n");
			return;
		}
		if (wrap_fields[i].kind == WRAP_TOKEN)
			return; /* a Date or Message-ID that is no token */
		wb_add(b, wrap_fields[i].name, strlen(wrap_fields[i].name));
		wb_str(b, ":");
		wb_encoded_words(b, value, vlen);
		/* RFC 6858 3.: an address that cannot be ASCII becomes an
		 * empty group named after it */
		wb_str(b, wrap_fields[i].kind == WRAP_ADDRESS ? " :;\r\n"
							      : "\r\n");
		return;
	}
}

int utf8wrap_prefix(const char *header, size_t len, char **out_r,
		    size_t *len_r)
{
	struct wrapbuf b = { 0 };
	const char *p = header, *end;

	/* the same octets however much more was read */
	if (len > UTF8WRAP_HEADER_MAX)
		len = UTF8WRAP_HEADER_MAX;
	end = header + len;

	while (p < end) {
		const char *next = memchr(p, '\n', (size_t)(end - p));

		next = next != NULL ? next + 1 : end;
		if (next - p <= 2 && (*p == '\n' || *p == '\r'))
			break; /* the blank line */
		while (next < end && (*next == ' ' || *next == '\t')) {
			const char *lf = memchr(next, '\n',
						(size_t)(end - next));

			next = lf != NULL ? lf + 1 : end;
		}
		if (*p != ' ' && *p != '\t')
			wrap_field(&b, p, (size_t)(next - p));
		p = next;
	}
	wb_str(&b, wrap_mime);
	if (b.failed) {
		free(b.data);
		return -1;
	}
	*out_r = b.data;
	*len_r = b.len;
	return 0;
}

uint64_t utf8wrap_size(size_t prefix_len, uint64_t orig_size)
{
	uint64_t b64 = (orig_size + 2) / 3 * 4;
	uint64_t lines = (b64 + WRAP_LINE_OUT - 1) / WRAP_LINE_OUT;

	return prefix_len + b64 + 2 * lines + sizeof(wrap_suffix) - 1;
}

enum wrap_phase { PHASE_PREFIX, PHASE_BODY, PHASE_SUFFIX, PHASE_DONE };

struct utf8wrap {
	utf8wrap_read_fn *read;
	void *ctx;
	enum wrap_phase phase;
	char *prefix;
	size_t prefix_len, pos;
	char *replay;                 /* header octets read, fed first */
	size_t replay_len, replay_pos;
	struct msgconv conv;          /* the original as RETR sends it */
	bool orig_done;
	unsigned char pend[WRAP_LINE_IN + 8]; /* + msgconv_finish's CRLF */
	size_t pend_len;
	char line[WRAP_LINE_OUT + 3]; /* one base64 line being handed out */
	size_t line_len, line_pos;
};

int utf8wrap_open(utf8wrap_read_fn *read, void *ctx, struct utf8wrap **w_r,
		  const char **error_r)
{
	struct utf8wrap *w = calloc(1, sizeof(*w));
	size_t cap = 8192;

	*error_r = "out of memory";
	if (w == NULL || (w->replay = malloc(cap)) == NULL)
		goto out_fail;
	w->read = read;
	w->ctx = ctx;
	/* the header, up to its blank line or UTF8WRAP_HEADER_MAX */
	while (w->replay_len < UTF8WRAP_HEADER_MAX) {
		ssize_t got;

		if (w->replay_len == cap) {
			char *bigger = realloc(w->replay, cap * 2);

			if (bigger == NULL)
				goto out_fail;
			w->replay = bigger;
			cap *= 2;
		}
		got = read(ctx, w->replay + w->replay_len,
			   cap - w->replay_len);
		if (got < 0) {
			*error_r = "read error";
			goto out_fail;
		}
		if (got == 0)
			break;
		w->replay_len += (size_t)got;
		if (memmem(w->replay, w->replay_len, "\n\n", 2) != NULL ||
		    memmem(w->replay, w->replay_len, "\n\r\n", 3) != NULL)
			break;
	}
	if (utf8wrap_prefix(w->replay, w->replay_len, &w->prefix,
			    &w->prefix_len) < 0)
		goto out_fail;
	msgconv_init(&w->conv, false, -1);
	*w_r = w;
	return 0;
out_fail:
	utf8wrap_destroy(&w);
	return -1;
}

/* Fills pend with up to 57 octets of the original as RETR sends it. */
static int wrap_fill(struct utf8wrap *w)
{
	char in[WRAP_LINE_IN], out[WRAP_LINE_IN * 2 + 4];

	while (w->pend_len < WRAP_LINE_IN && !w->orig_done) {
		size_t want = (WRAP_LINE_IN - w->pend_len) / 2, n = 0, used,
		       out_len;
		ssize_t got;

		if (want == 0)
			want = 1;
		if (w->replay_pos < w->replay_len) {
			n = w->replay_len - w->replay_pos < want ?
			    w->replay_len - w->replay_pos : want;
			memcpy(in, w->replay + w->replay_pos, n);
			w->replay_pos += n;
		} else {
			got = w->read(w->ctx, in, want);
			if (got < 0)
				return -1;
			n = (size_t)got;
		}
		if (n == 0) {
			out_len = msgconv_finish(&w->conv, out, sizeof(out));
			w->orig_done = true;
		} else {
			used = msgconv_feed(&w->conv, in, n, out, sizeof(out),
					    &out_len);
			(void)used; /* out has room for all of it */
		}
		memcpy(w->pend + w->pend_len, out, out_len);
		w->pend_len += out_len;
	}
	return 0;
}

ssize_t utf8wrap_read(struct utf8wrap *w, char *buf, size_t size)
{
	size_t done = 0;

	while (done < size && w->phase != PHASE_DONE) {
		size_t n;

		if (w->phase == PHASE_PREFIX || w->phase == PHASE_SUFFIX) {
			const char *src = w->phase == PHASE_PREFIX ? w->prefix
								   : wrap_suffix;
			size_t len = w->phase == PHASE_PREFIX ?
				     w->prefix_len : sizeof(wrap_suffix) - 1;

			n = len - w->pos < size - done ? len - w->pos
						       : size - done;
			memcpy(buf + done, src + w->pos, n);
			done += n;
			w->pos += n;
			if (w->pos == len) {
				w->phase = w->phase == PHASE_PREFIX ?
					   PHASE_BODY : PHASE_DONE;
				w->pos = 0;
			}
			continue;
		}
		if (w->line_pos == w->line_len) {
			if (wrap_fill(w) < 0)
				return -1;
			if (w->pend_len == 0) {
				w->phase = PHASE_SUFFIX;
				continue;
			}
			/* 57 octets or the last few */
			n = w->pend_len < WRAP_LINE_IN ? w->pend_len
						       : WRAP_LINE_IN;
			w->line_len = (size_t)EVP_EncodeBlock(
				(unsigned char *)w->line, w->pend, (int)n);
			memcpy(w->line + w->line_len, "\r\n", 2);
			w->line_len += 2;
			w->line_pos = 0;
			memmove(w->pend, w->pend + n, w->pend_len - n);
			w->pend_len -= n;
		}
		n = w->line_len - w->line_pos < size - done ?
		    w->line_len - w->line_pos : size - done;
		memcpy(buf + done, w->line + w->line_pos, n);
		done += n;
		w->line_pos += n;
	}
	return (ssize_t)done;
}

uint64_t utf8wrap_total(const struct utf8wrap *w, uint64_t orig_size)
{
	return utf8wrap_size(w->prefix_len, orig_size);
}

void utf8wrap_destroy(struct utf8wrap **wp)
{
	struct utf8wrap *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	free(w->prefix);
	free(w->replay);
	free(w);
}
