/* test-linereader.c: the bounded line reader (RFC 2449 line limit). */
#include "net/linereader.h"
#include "unit.h"

static void feed(struct linereader *lr, const char *data, size_t len)
{
	size_t room;
	char *dst = linereader_space(lr, &room);

	if (len > room)
		len = room;
	memcpy(dst, data, len);
	linereader_added(lr, len);
}

static void test_basic(void)
{
	struct linereader lr;
	char *line;
	size_t len;

	linereader_init(&lr, 255);
	feed(&lr, "USER bob\r\nPASS x y\nST", 21);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "first line");
	CHECK_STR(line, "USER bob", "CRLF stripped");
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "bare LF line");
	CHECK_STR(line, "PASS x y", "LF stripped, spaces kept");
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE, "partial line");
	feed(&lr, "AT\r\n", 4);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "completed");
	CHECK_STR(line, "STAT", "joined across reads");
	CHECK(!linereader_has_data(&lr), "buffer empty");
	linereader_deinit(&lr);
}

static void test_limit(void)
{
	struct linereader lr;
	char big[600];
	char *line;
	size_t len;

	/* 253 characters + CRLF = 255 octets: allowed. */
	linereader_init(&lr, 255);
	memset(big, 'a', 253);
	memcpy(big + 253, "\r\n", 2);
	feed(&lr, big, 255);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK && len == 253,
	      "255 octets with CRLF accepted");

	/* 254 characters + CRLF = 256 octets: refused. */
	memset(big, 'b', 254);
	memcpy(big + 254, "\r\n", 2);
	feed(&lr, big, 256);
	CHECK(linereader_next(&lr, &line, &len) == LINE_TOO_LONG,
	      "256 octets refused");
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE,
	      "nothing of the long line is acted on");

	/* A long line arriving in pieces: reported once, tail discarded. */
	memset(big, 'c', sizeof(big));
	feed(&lr, big, 300);
	CHECK(linereader_next(&lr, &line, &len) == LINE_TOO_LONG,
	      "long line without LF reported");
	feed(&lr, big, 300);
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE,
	      "tail discarded quietly");
	feed(&lr, "xx\r\nNOOP\r\n", 10);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "next line ok");
	CHECK_STR(line, "NOOP", "line after the long one intact");
	linereader_deinit(&lr);
}

static void test_nul_and_clear(void)
{
	struct linereader lr;
	char *line;
	size_t len;

	linereader_init(&lr, 255);
	feed(&lr, "US\0ER\r\n", 7);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK && lr.nul_seen,
	      "NUL byte flagged");
	feed(&lr, "CAPA\r\nQUIT\r\n", 12);
	linereader_clear(&lr);
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE,
	      "clear drops buffered commands (STLS injection)");
	linereader_deinit(&lr);
}

/* An idle reader holds no buffer; a partial line keeps it; a raised
 * limit (SASL) keeps its big one until lowered and drained. */
static void test_release(void)
{
	struct linereader lr;
	char big[2000];
	const char *rest;
	char *line;
	size_t len;

	linereader_init(&lr, 255);
	CHECK(lr.data == NULL, "no buffer before any input");
	CHECK(linereader_room(&lr) == LINEREADER_BUF, "room without buffer");
	feed(&lr, "NOOP\r\nST", 8);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "line");
	linereader_release_if_empty(&lr);
	CHECK(lr.data != NULL, "a partial line keeps the buffer");
	rest = linereader_pending(&lr, &len);
	CHECK(len == 2 && memcmp(rest, "ST", 2) == 0, "pending partial line");
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE, "partial");
	feed(&lr, "AT\r\n", 4);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "completed");
	CHECK_STR(line, "STAT", "joined");
	CHECK(linereader_next(&lr, &line, &len) == LINE_NONE, "drained");
	linereader_release_if_empty(&lr);
	CHECK(lr.data == NULL, "drained: buffer released");
	rest = linereader_pending(&lr, &len);
	CHECK(len == 0 && rest != NULL, "nothing pending");

	/* AUTH raises the limit while its own line is being handled, and
	 * the session wipes that line afterwards: the line must still be
	 * there (the ASan build of this test catches a freed buffer) */
	feed(&lr, "AUTH PLAIN\r\n", 12);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "AUTH line");
	CHECK(linereader_set_limit(&lr, sizeof(big)) == 0, "raise the limit");
	memset(line, 0, len);
	CHECK(lr.cap == LINEREADER_BUF, "not grown under the line");
	{
		size_t room;

		CHECK(linereader_space(&lr, &room) != NULL &&
		      lr.cap == sizeof(big) && room == sizeof(big),
		      "big buffer at the next read");
	}
	memset(big, 'x', 1500);
	memcpy(big + 1500, "\r\n", 2);
	feed(&lr, big, 1502);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK && len == 1500,
	      "a long SASL line");
	linereader_release_if_empty(&lr);
	CHECK(lr.data != NULL, "kept while the limit is raised");
	CHECK(linereader_set_limit(&lr, 255) == 0, "lower the limit");
	feed(&lr, "QU", 2);
	CHECK(lr.data != NULL && lr.cap == LINEREADER_BUF,
	      "back to the ordinary size once drained");
	feed(&lr, "IT\r\n", 4);
	CHECK(linereader_next(&lr, &line, &len) == LINE_OK, "line after");
	CHECK_STR(line, "QUIT", "bytes kept across the shrink");
	linereader_release_if_empty(&lr);
	CHECK(lr.data == NULL, "released after the shrink");
	linereader_deinit(&lr);
}

static void test_pipelined_many(void)
{
	struct linereader lr;
	unsigned lines = 0;
	char *line;
	size_t len;

	linereader_init(&lr, 255);
	for (int round = 0; round < 100; round++) {
		feed(&lr, "NOOP\r\n", 6);
		while (linereader_next(&lr, &line, &len) == LINE_OK)
			lines++;
	}
	CHECK(lines == 100, "100 pipelined commands");
	linereader_deinit(&lr);
}

int main(void)
{
	test_basic();
	test_limit();
	test_nul_and_clear();
	test_pipelined_many();
	test_release();
	return unit_done();
}
