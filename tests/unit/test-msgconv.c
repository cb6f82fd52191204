/* test-msgconv.c: LF->CRLF, dot-stuffing, TOP limits and LIST sizes,
 * against a byte-at-a-time reference, with random inputs and splits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/msgconv.h"
#include "unit.h"

struct buf {
	char *data;
	size_t len, size;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->size) {
		b->size = (b->len + n + 1) * 2;
		b->data = realloc(b->data, b->size);
		if (b->data == NULL)
			abort();
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Reference: one byte at a time, the rules written out plainly. */
static void reference(const char *in, size_t len, bool stuff, int64_t top,
		      struct buf *out)
{
	bool line_start = true, prev_cr = false, in_body = false;
	size_t line_len = 0, i;
	int64_t left = top;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (top >= 0 && in_body && left == 0)
			return;
		if (c == '\n') {
			bool empty = line_len == 0 ||
				     (line_len == 1 && prev_cr);

			buf_add(out, prev_cr ? "\n" : "\r\n", prev_cr ? 1 : 2);
			if (in_body)
				left--;
			else if (empty)
				in_body = true;
			line_start = true;
			prev_cr = false;
			line_len = 0;
			continue;
		}
		if (line_start && stuff && c == '.')
			buf_add(out, ".", 1);
		buf_add(out, &c, 1);
		line_start = false;
		prev_cr = c == '\r';
		line_len++;
	}
	if (!line_start)
		buf_add(out, "\r\n", 2);
}

/* msgconv with random input chunks and random output space. */
static void convert(const char *in, size_t len, bool stuff, int64_t top,
		    struct buf *out, bool random_split)
{
	struct msgconv conv;
	char tmp[64];
	size_t pos = 0, n;

	msgconv_init(&conv, stuff, top);
	while (pos < len && !msgconv_is_done(&conv)) {
		size_t chunk = len - pos, osize = sizeof(tmp), used;

		if (random_split) {
			chunk = 1 + (size_t)rand() % (chunk < 9 ? chunk : 9);
			osize = 4 + (size_t)rand() % (sizeof(tmp) - 4);
		}
		while (chunk > 0 && !msgconv_is_done(&conv)) {
			used = msgconv_feed(&conv, in + pos, chunk, tmp, osize,
					    &n);
			buf_add(out, tmp, n);
			pos += used;
			chunk -= used;
		}
	}
	n = msgconv_finish(&conv, tmp, sizeof(tmp));
	buf_add(out, tmp, n);
}

static uint64_t size_of(const char *in, size_t len, bool random_split)
{
	struct msgsize ms;
	size_t pos = 0;

	msgsize_init(&ms);
	while (pos < len) {
		size_t chunk = len - pos;

		if (random_split)
			chunk = 1 + (size_t)rand() % (chunk < 7 ? chunk : 7);
		msgsize_feed(&ms, in + pos, chunk);
		pos += chunk;
	}
	return msgsize_finish(&ms);
}

/* RFC 1939 3.: the client removes one '.' from lines starting with it. */
static void unstuff(const struct buf *in, struct buf *out)
{
	bool line_start = true;
	size_t i;

	for (i = 0; i < in->len; i++) {
		if (!(line_start && in->data[i] == '.'))
			buf_add(out, &in->data[i], 1);
		line_start = in->data[i] == '\n';
	}
}

static void random_message(struct buf *msg)
{
	static const char pieces[][4] = { "\n", "\r\n", "\r", ".", "..",
					  "a", "b c", "\0", "\xff", "\x80" };
	size_t n = (size_t)rand() % 40, i;

	msg->len = 0;
	buf_add(msg, "", 0);
	for (i = 0; i < n; i++) {
		size_t k = (size_t)rand() % (sizeof(pieces) / sizeof(pieces[0]));
		size_t plen = k == 7 ? 1 : strlen(pieces[k]);

		buf_add(msg, pieces[k], plen);
	}
	if (rand() % 2)
		buf_add(msg, "\n", 1);
}

static bool buf_eq(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void test_property(void)
{
	struct buf msg = { 0 }, plain = { 0 }, stuffed = { 0 },
		   back = { 0 }, ref = { 0 }, top = { 0 }, topref = { 0 };
	bool ok_size = true, ok_unstuff = true, ok_ref = true, ok_top = true;
	int iter;

	srand(1939);
	for (iter = 0; iter < 20000; iter++) {
		int64_t lines = rand() % 5 - 1;

		random_message(&msg);
		plain.len = stuffed.len = back.len = ref.len = 0;
		top.len = topref.len = 0;
		convert(msg.data, msg.len, false, -1, &plain, true);
		convert(msg.data, msg.len, true, -1, &stuffed, true);
		reference(msg.data, msg.len, true, -1, &ref);
		if (size_of(msg.data, msg.len, true) != plain.len)
			ok_size = false;
		unstuff(&stuffed, &back);
		if (!buf_eq(&back, &plain))
			ok_unstuff = false;
		if (!buf_eq(&ref, &stuffed))
			ok_ref = false;
		convert(msg.data, msg.len, true, lines, &top, true);
		reference(msg.data, msg.len, true, lines, &topref);
		if (!buf_eq(&top, &topref))
			ok_top = false;
	}
	CHECK(ok_size, "property: msgsize == octets of plain conversion");
	CHECK(ok_unstuff, "property: unstuff(stuffed) == plain");
	CHECK(ok_ref, "property: streamed == byte-at-a-time reference");
	CHECK(ok_top, "property: TOP streamed == reference");
	free(msg.data);
	free(plain.data);
	free(stuffed.data);
	free(back.data);
	free(ref.data);
	free(top.data);
	free(topref.data);
}

static const char *conv_str(const char *in, bool stuff, int64_t top)
{
	static struct buf out;

	out.len = 0;
	buf_add(&out, "", 0);
	convert(in, strlen(in), stuff, top, &out, false);
	return out.data;
}

static void test_cases(void)
{
	const char *m = "From: a\nTo: b\n\nline 1\n.line 2\nline 3\n";

	CHECK_STR(conv_str("", true, -1), "", "empty message: nothing");
	CHECK(size_of("", 0, false) == 0, "empty message: size 0");
	CHECK_STR(conv_str("a", true, -1), "a\r\n", "final CRLF added");
	CHECK(size_of("a", 1, false) == 3, "size counts the final CRLF");
	CHECK_STR(conv_str("a\r", true, -1), "a\r\r\n",
		  "trailing lone CR is not a line end");
	CHECK_STR(conv_str("a\rb\n", true, -1), "a\rb\r\n",
		  "lone CR passes through");
	CHECK_STR(conv_str("a\r\nb\n", true, -1), "a\r\nb\r\n",
		  "CRLF kept, LF converted");
	CHECK_STR(conv_str(".\n..x\n", true, -1), "..\r\n...x\r\n",
		  "dot-stuffing");
	CHECK_STR(conv_str(".\n", false, -1), ".\r\n", "no stuffing for size");
	CHECK_STR(conv_str(m, true, 0), "From: a\r\nTo: b\r\n\r\n",
		  "TOP 0: header and blank line");
	CHECK_STR(conv_str(m, true, 2),
		  "From: a\r\nTo: b\r\n\r\nline 1\r\n..line 2\r\n",
		  "TOP 2: two body lines, stuffed");
	CHECK_STR(conv_str(m, true, 100), conv_str(m, true, -1),
		  "TOP beyond the body: whole message");
	CHECK_STR(conv_str("A: 1\nB: 2", true, 0), "A: 1\r\nB: 2\r\n",
		  "TOP without blank line: all header");
	CHECK_STR(conv_str("A: 1\r\n\r\nx\r\ny\r\n", true, 1),
		  "A: 1\r\n\r\nx\r\n", "TOP with CRLF blank line");
	CHECK_STR(conv_str("A: 1\n\nx", true, 5), "A: 1\r\n\r\nx\r\n",
		  "TOP: last body line without LF");
	CHECK_STR(conv_str("A: 1\n\r\n", true, 0), "A: 1\r\n\r\n",
		  "TOP 0 stops at a CRLF blank line");
	CHECK_STR(conv_str("\n\nbody\n", true, 0), "\r\n",
		  "TOP 0 of a message with an empty header");
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Throughput figures (not pass/fail: machines differ). */
static void bench(size_t line_len)
{
	size_t total = 256u << 20, i, n, pos;
	char *in = malloc(total), *out = malloc(1 << 16);
	struct msgconv conv;
	double t0, t1, t2;
	struct msgsize ms;

	if (in == NULL || out == NULL)
		abort();
	for (i = 0; i < total; i++)
		in[i] = (i % line_len) == line_len - 1 ? '\n' : 'x';
	t0 = seconds();
	msgconv_init(&conv, true, -1);
	for (pos = 0; pos < total;)
		pos += msgconv_feed(&conv, in + pos, total - pos, out,
				    1 << 16, &n);
	t1 = seconds();
	msgsize_init(&ms);
	msgsize_feed(&ms, in, total);
	t2 = seconds();
	printf("# %zu-octet lines: msgconv %.0f MB/s, msgsize %.0f MB/s\n",
	       line_len, total / 1e6 / (t1 - t0), total / 1e6 / (t2 - t1));
	CHECK(msgsize_finish(&ms) == total + total / line_len,
	      "bench input size");
	free(in);
	free(out);
}

/* One whole conversion with workarounds, output as a string. */
static char *convert_with(const char *in, size_t len, int64_t top,
			  unsigned workarounds, size_t *out_len_r)
{
	static char out[256];
	struct msgconv conv;
	size_t pos = 0, n, used = 0;

	msgconv_init(&conv, true, top);
	conv.workarounds = workarounds;
	while (pos < len && !msgconv_is_done(&conv)) {
		/* 5 octets of output at a time: the NUL rule across splits */
		pos += msgconv_feed(&conv, in + pos, len - pos, out + used, 5,
				    &n);
		used += n;
	}
	used += msgconv_finish(&conv, out + used, 4);
	*out_len_r = used;
	return out;
}

struct mem_reader {
	const char *data;
	size_t len, pos, chunk;
};

static ssize_t mem_read(void *ctx, char *buf, size_t size)
{
	struct mem_reader *m = ctx;
	size_t n = m->len - m->pos;

	if (n > size)
		n = size;
	if (n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static int header_ends(const char *text, size_t chunk)
{
	struct mem_reader m = { text, strlen(text), 0, chunk };

	return msgconv_header_ends(mem_read, &m);
}

static void test_workarounds(void)
{
	static const char nul[] = "A: b\n\nx\0y\0\0z\n";
	unsigned mask;
	const char *bad;
	size_t n;
	char *out;

	CHECK(msgconv_workarounds_parse("outlook-no-nuls, oe-ns-eoh", &mask,
					&bad) == 0 &&
	      mask == (MSGCONV_NO_NULS | MSGCONV_ADD_EOH), "both words");
	CHECK(msgconv_workarounds_parse("", &mask, &bad) == 0 && mask == 0,
	      "empty: none");
	CHECK(msgconv_workarounds_parse("none", &mask, &bad) == 0 &&
	      mask == 0, "none");
	CHECK(msgconv_workarounds_parse("oe-ns-eoh,outlook", &mask,
					&bad) < 0 && strcmp(bad, "outlook") == 0,
	      "a prefix of a word is refused");

	out = convert_with(nul, sizeof(nul) - 1, -1, MSGCONV_NO_NULS, &n);
	CHECK(n == sizeof(nul) - 1 + 3 &&
	      memcmp(out, "A: b\r\n\r\nx\x80y\x80\x80z\r\n", n) == 0,
	      "outlook-no-nuls: NUL as 0x80, same size");
	out = convert_with(nul, sizeof(nul) - 1, -1, 0, &n);
	CHECK(n == sizeof(nul) - 1 + 3 && memchr(out, '\0', n) != NULL,
	      "without it NUL passes");

	out = convert_with("A: b\nC: d\n", 10, -1, MSGCONV_ADD_EOH, &n);
	CHECK(n == 14 && memcmp(out, "A: b\r\nC: d\r\n\r\n", n) == 0,
	      "oe-ns-eoh adds the blank line");
	out = convert_with("A: b\nC: d", 9, -1, MSGCONV_ADD_EOH, &n);
	CHECK(n == 14 && memcmp(out, "A: b\r\nC: d\r\n\r\n", n) == 0,
	      "oe-ns-eoh after a last line without LF");
	out = convert_with("A: b\n", 5, 3, MSGCONV_ADD_EOH, &n);
	CHECK(n == 8 && memcmp(out, "A: b\r\n\r\n", n) == 0,
	      "oe-ns-eoh in TOP");
	out = convert_with("A: b\n\nbody\n", 11, -1, MSGCONV_ADD_EOH, &n);
	CHECK(n == 14 && memcmp(out, "A: b\r\n\r\nbody\r\n", n) == 0,
	      "oe-ns-eoh leaves a message with a body alone");
	out = convert_with("A: b\n\nbody\n", 11, 0, MSGCONV_ADD_EOH, &n);
	CHECK(n == 8 && memcmp(out, "A: b\r\n\r\n", n) == 0,
	      "TOP 0 with oe-ns-eoh: one blank line");
	out = convert_with("", 0, -1, MSGCONV_ADD_EOH, &n);
	CHECK(n == 2 && memcmp(out, "\r\n", 2) == 0,
	      "an empty message gets the blank line");

	CHECK(header_ends("A: b\n\nx", 1) == 1, "header ends (1-octet reads)");
	CHECK(header_ends("A: b\r\n\r\nx", 3) == 1, "header ends (CRLF)");
	CHECK(header_ends("\nbody\n", 100) == 1, "empty header ends");
	CHECK(header_ends("A: b\nC: d\n", 2) == 0, "no blank line");
	CHECK(header_ends("A: b\n\r", 100) == 0, "a lone CR is no line");
	CHECK(header_ends("", 100) == 0, "empty message: no blank line");
}

int main(int argc, char **argv)
{
	test_workarounds();
	test_cases();
	test_property();
	if (argc > 1 && strcmp(argv[1], "bench") == 0) {
		bench(76);
		bench(1000);
		bench(100000);
	}
	return unit_done();
}
