/* session_long.c: the long replies of a session (LIST, UIDL, RETR,
 * TOP): each fills the output buffer up to its high-water mark and
 * continues when it drains, so one big message never holds the worker
 * (STYLE.md 2.). */
#include <stdio.h>
#include <string.h>

#include "serve/limits.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "store/utf8wrap.h"
#include "serve/worker.h"
#include "util/log.h"

static ssize_t long_read_original(void *ctx, char *buf, size_t size)
{
	return maildrop_reader_read(ctx, buf, size);
}

void session_start_long(struct session *s, enum long_kind kind,
			unsigned msg_index, int64_t top_lines)
{
	const char *error = "cannot read the message";

	memset(&s->reply, 0, sizeof(s->reply));
	if (kind == LONG_MESSAGE) {
		struct maildrop_msg *msg = maildrop_msg(s->drop, msg_index);

		if (maildrop_reader_open(s->drop, msg_index, &s->reply.reader,
					 &error) != MAILDROP_OK) {
			log_error("user=%s session=%s message %u: %s",
				  s->user, s->id,
				  msg_index + 1, error);
			session_reply(s, "-ERR [SYS/TEMP] cannot read message "
				      "%u", msg_index + 1);
			return;
		}
		/* utf8_legacy = wrap: the surrogate instead */
		if (s->wrap_size != NULL && s->wrap_size[msg_index] > 0 &&
		    utf8wrap_open(long_read_original, s->reply.reader,
				  &s->reply.wrap, &error) < 0) {
			log_error("user=%s message %u: surrogate: %s",
				  s->user, msg_index + 1, error);
			maildrop_reader_destroy(&s->reply.reader);
			session_reply(s, "-ERR [SYS/TEMP] cannot read message "
				      "%u", msg_index + 1);
			return;
		}
		msgconv_init(&s->reply.conv, true, top_lines);
		s->reply.conv.workarounds = s->workarounds;
		if (top_lines < 0) {
			uint64_t size = session_msg_size(s, msg_index);

			session_reply(s, "+OK %llu octets",
				      (unsigned long long)size);
			msg->retrieved = true;
			if (msg_index + 1 > s->last_now)
				s->last_now = msg_index + 1;
			s->retr_count++;
			s->retr_bytes += size;
			metrics_count(s->worker->metrics, s->worker->index,
				      METRICS_RETRIEVALS, 1);
		} else {
			session_reply(s, "+OK top of message follows");
		}
		s->reply.msg_index = msg_index;
	}
	s->reply.kind = kind;
}

/* Fills the output with the next part of a message. Returns 1 when the
 * message is complete, 0 when output is full, -1 on a read error. */
static int long_fill_message(struct session *s)
{
	struct long_reply *r = &s->reply;
	char chunk[MESSAGE_CHUNK];

	while (outbuf_pending(&s->out) < OUTPUT_HIGH_WATER) {
		size_t room, used = 0, done_in = 0;
		ssize_t got = 0;
		char *dst;

		if (!msgconv_is_done(&r->conv))
			got = r->wrap != NULL ?
			      utf8wrap_read(r->wrap, chunk, sizeof(chunk)) :
			      maildrop_reader_read(r->reader, chunk,
						   sizeof(chunk));
		if (got < 0)
			return -1;
		if (got == 0) {
			dst = outbuf_reserve(&s->out, 8, &room);
			if (dst == NULL)
				return -1;
			used = msgconv_finish(&r->conv, dst, room);
			memcpy(dst + used, ".\r\n", 3);
			outbuf_commit(&s->out, used + 3);
			return 1;
		}
		/* Worst case every byte doubles (LF -> CRLF, '.' stuffed). */
		while (done_in < (size_t)got) {
			size_t out_len;

			dst = outbuf_reserve(&s->out, 2 * ((size_t)got - done_in)
					     + 8, &room);
			if (dst == NULL)
				return -1;
			done_in += msgconv_feed(&r->conv, chunk + done_in,
						(size_t)got - done_in, dst,
						room, &out_len);
			outbuf_commit(&s->out, out_len);
			if (msgconv_is_done(&r->conv))
				break;
		}
	}
	return 0;
}

/* Decimal digits of v at the end of buf; returns where they start. */
static char *format_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

/* One "n size" (LIST) or "n uidl" (UIDL) line. A UIDL is 0x21-0x7E and
 * never starts with '.' after a number, so no stuffing is needed. This
 * runs 100,000 times for a large maildrop: no printf. */
static int listing_line(struct session *s, enum long_kind kind, unsigned n,
			const struct maildrop_msg *msg)
{
	char num[24], size_buf[24], *p, *dst;
	size_t room, nlen, vlen;
	const char *value;

	p = format_u64(num + sizeof(num), n);
	nlen = (size_t)(num + sizeof(num) - p);
	if (kind == LONG_LIST) {
		value = format_u64(size_buf + sizeof(size_buf),
				   session_msg_size(s, n - 1));
		vlen = (size_t)(size_buf + sizeof(size_buf) - value);
	} else {
		value = msg->uidl;
		vlen = strlen(msg->uidl);
	}
	dst = outbuf_reserve(&s->out, nlen + vlen + 3, &room);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, nlen);
	dst[nlen] = ' ';
	memcpy(dst + nlen + 1, value, vlen);
	memcpy(dst + nlen + 1 + vlen, "\r\n", 2);
	outbuf_commit(&s->out, nlen + vlen + 3);
	return 0;
}

/* Returns 1 when the listing is complete, 0 when output is full. */
static int long_fill_listing(struct session *s)
{
	struct long_reply *r = &s->reply;
	unsigned count = maildrop_count(s->drop);

	while (r->next < count && outbuf_pending(&s->out) < OUTPUT_HIGH_WATER) {
		const struct maildrop_msg *msg = maildrop_msg(s->drop, r->next);

		r->next++;
		if (msg->deleted)
			continue;
		if (listing_line(s, r->kind, r->next, msg) < 0) {
			session_out_of_memory(s);
			return 0;
		}
	}
	if (r->next < count)
		return 0;
	session_reply(s, ".");
	return 1;
}

void session_long_end(struct session *s)
{
	utf8wrap_destroy(&s->reply.wrap);
	maildrop_reader_destroy(&s->reply.reader);
	s->reply.kind = LONG_NONE;
}

/* Returns true when the long reply is finished (or failed and closing). */
bool session_continue_long(struct session *s)
{
	int ret = s->reply.kind == LONG_MESSAGE ? long_fill_message(s)
						: long_fill_listing(s);

	if (ret < 0) {
		/* Half a message is out: the only honest thing left is to
		 * drop the connection (the client sees no terminator). */
		log_error("user=%s session=%s: reading message %u failed",
			  s->user, s->id,
			  s->reply.msg_index + 1);
		s->closing = true;
		s->end_reason = "read error";
		session_long_end(s);
		return true;
	}
	if (ret == 1)
		session_long_end(s);
	return ret == 1;
}
