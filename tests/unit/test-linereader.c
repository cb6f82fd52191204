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
}

int main(void)
{
	test_basic();
	test_limit();
	test_nul_and_clear();
	test_pipelined_many();
	return unit_done();
}
