/* lmtp_dot.c: DATA end and dot-unstuffing as a stream (see lmtp_dot.h). */
#include "deliver/lmtp_dot.h"

#include <string.h>

void lmtp_dot_init(struct lmtp_dot *dot)
{
	dot->state = LMTP_DOT_LINE_START;
}

bool lmtp_dot_done(const struct lmtp_dot *dot)
{
	return dot->state == LMTP_DOT_DONE;
}

size_t lmtp_dot_feed(struct lmtp_dot *dot, const char *in, size_t len,
		     char *out, size_t *out_len_r)
{
	size_t i = 0, n = 0;

	while (i < len && dot->state != LMTP_DOT_DONE) {
		char c = in[i];

		switch (dot->state) {
		case LMTP_DOT_MIDDLE: {
			/* the common case: copy up to and with the next LF */
			const char *lf = memchr(in + i, '\n', len - i);
			size_t run = lf != NULL ? (size_t)(lf - (in + i)) + 1 :
				len - i;

			memcpy(out + n, in + i, run);
			n += run;
			i += run;
			if (lf != NULL)
				dot->state = LMTP_DOT_LINE_START;
			continue;
		}
		case LMTP_DOT_LINE_START:
			i++;
			if (c == '.') {
				dot->state = LMTP_DOT_DOT;
				continue;
			}
			out[n++] = c;
			if (c != '\n')
				dot->state = LMTP_DOT_MIDDLE;
			continue;
		case LMTP_DOT_DOT:
			i++;
			if (c == '\n') {
				dot->state = LMTP_DOT_DONE;
			} else if (c == '\r') {
				dot->state = LMTP_DOT_DOT_CR;
			} else {
				/* the stuffed dot is dropped */
				out[n++] = c;
				dot->state = LMTP_DOT_MIDDLE;
			}
			continue;
		case LMTP_DOT_DOT_CR:
			if (c == '\n') {
				i++;
				dot->state = LMTP_DOT_DONE;
				continue;
			}
			/* ".\r" then more: the line was "\r..." unstuffed;
			 * c is looked at again in the middle of a line */
			out[n++] = '\r';
			dot->state = LMTP_DOT_MIDDLE;
			continue;
		case LMTP_DOT_DONE:
			break;
		}
	}
	*out_len_r = n;
	return i;
}
