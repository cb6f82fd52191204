/* pop3reply.c: status lines and multi-line bodies as the fetch client
 * reads them (pop3reply.h). */
#include <string.h>
#include <strings.h>

#include "fetch/pop3reply.h"

/* The body decoder's states: where in a line the next octet falls. */
enum {
	BODY_LINE_START,   /* first octet of a line */
	BODY_DOT,          /* a line began with '.': stuffing or the end */
	BODY_DOT_CR,       /* ".\r": the end if LF follows */
	BODY_MIDDLE,       /* inside a line */
	BODY_CR,           /* a CR held back: CRLF or a lone CR */
};

enum pop3_status_kind pop3_status_parse(const char *line, size_t len,
					struct pop3_status *st)
{
	size_t word, i;

	memset(st, 0, sizeof(*st));
	if (len >= 3 && memcmp(line, "+OK", 3) == 0) {
		st->kind = POP3_OK;
		word = 3;
	} else if (len >= 4 && memcmp(line, "-ERR", 4) == 0) {
		st->kind = POP3_ERR;
		word = 4;
	} else if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
		st->kind = POP3_CONTINUE;
		word = 1;
	} else {
		st->kind = POP3_BAD;
		st->text = line;
		st->text_len = len;
		return st->kind;
	}
	if (word < len && line[word] != ' ') {
		st->kind = POP3_BAD; /* "+OKAY", "-ERROR" */
		st->text = line;
		st->text_len = len;
		return st->kind;
	}
	while (word < len && line[word] == ' ')
		word++;
	st->text = line + word;
	st->text_len = len - word;
	/* RFC 2449 8.: "[" resp-code "]", the code printable, no spaces */
	if (st->kind != POP3_CONTINUE && st->text_len > 2 &&
	    st->text[0] == '[') {
		const char *end = memchr(st->text, ']', st->text_len);
		size_t n = end != NULL ? (size_t)(end - st->text) - 1 : 0;
		bool ok = n > 0 && n <= POP3_RESP_CODE_MAX;

		for (i = 0; ok && i < n; i++) {
			unsigned char c = (unsigned char)st->text[1 + i];

			ok = c > 0x20 && c < 0x7f && c != '[';
		}
		if (ok) {
			memcpy(st->code, st->text + 1, n);
			st->code[n] = '\0';
			st->text += n + 2;
			st->text_len -= n + 2;
			while (st->text_len > 0 && st->text[0] == ' ') {
				st->text++;
				st->text_len--;
			}
		}
	}
	return st->kind;
}

bool pop3_code_is(const struct pop3_status *st, const char *code)
{
	size_t n = strlen(code);

	/* case-insensitive, as RFC 2449 8. makes response codes */
	return strncasecmp(st->code, code, n) == 0 &&
	       (st->code[n] == '\0' || st->code[n] == '/');
}

void pop3_body_init(struct pop3_body *b)
{
	memset(b, 0, sizeof(*b));
	b->state = BODY_LINE_START;
}

size_t pop3_body_decode(struct pop3_body *b, const char *in, size_t len,
			char *out, size_t *out_len_r)
{
	size_t i = 0, o = 0;

	while (i < len && !b->done) {
		char c = in[i];

		switch (b->state) {
		case BODY_LINE_START:
			if (c == '.') {
				b->state = BODY_DOT;
				i++;
				continue;
			}
			b->state = BODY_MIDDLE;
			continue; /* the same octet, as any other */
		case BODY_DOT:
			if (c == '\n') {
				b->done = true; /* ".\n" from a LF server */
				i++;
				continue;
			}
			if (c == '\r') {
				b->state = BODY_DOT_CR;
				i++;
				continue;
			}
			/* stuffing: the dot goes, the rest of the line stays */
			b->state = BODY_MIDDLE;
			continue;
		case BODY_DOT_CR:
			if (c == '\n') {
				b->done = true;
				i++;
				continue;
			}
			/* ".\r" then more: a line that began "\r" unstuffed */
			out[o++] = '\r';
			b->state = BODY_MIDDLE;
			continue;
		case BODY_CR:
			if (c == '\n') {
				out[o++] = '\n';
				b->lines++;
				b->state = BODY_LINE_START;
				i++;
				continue;
			}
			out[o++] = '\r'; /* a lone CR is the message's */
			b->state = BODY_MIDDLE;
			continue;
		default: {
			/* copy the run up to the next CR or LF in one go */
			const char *start = in + i;
			size_t left = len - i, n = 0;

			while (n < left && start[n] != '\r' &&
			       start[n] != '\n')
				n++;
			memcpy(out + o, start, n);
			o += n;
			i += n;
			if (i == len)
				break;
			if (in[i] == '\n') {
				out[o++] = '\n';
				b->lines++;
				b->state = BODY_LINE_START;
			} else {
				b->state = BODY_CR;
			}
			i++;
			break;
		}
		}
	}
	b->octets += o;
	*out_len_r = o;
	return i;
}
