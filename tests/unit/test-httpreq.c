/* test-httpreq.c: the request head parser of the metrics endpoint
 * (httpreq.c): complete and partial heads, bare LF, the query cut off,
 * and what is refused. */
#include <string.h>

#include "net/httpreq.h"
#include "unit.h"

static enum httpreq_status parse(const char *text, struct httpreq *req,
				 size_t *used)
{
	const char *error = NULL;

	*used = 0;
	return httpreq_parse(text, strlen(text), req, used, &error);
}

int main(void)
{
	static const char full[] = "GET /metrics HTTP/1.1\r\nHost: a:1\r\n"
				   "Accept: text/plain;version=0.0.4\r\n\r\n";
	struct httpreq req;
	size_t used, i;
	int more = 1;

	CHECK(parse(full, &req, &used) == HTTPREQ_DONE &&
		      used == sizeof(full) - 1,
	      "a whole head");
	CHECK_STR(req.method, "GET", "its method");
	CHECK_STR(req.target, "/metrics", "its target");
	CHECK(req.version_minor == 1, "HTTP/1.1");
	for (i = 0; i < sizeof(full) - 1; i++) {
		const char *error;

		if (httpreq_parse(full, i, &req, &used, &error) !=
		    HTTPREQ_MORE)
			more = 0;
	}
	CHECK(more, "every prefix asks for more");
	CHECK(parse("GET /metrics HTTP/1.0\n\n", &req, &used) ==
		      HTTPREQ_DONE && req.version_minor == 0,
	      "bare LF, HTTP/1.0");
	CHECK(parse("\r\nGET /metrics?a=b HTTP/1.0\r\n\r\nbody", &req,
		    &used) == HTTPREQ_DONE &&
		      strcmp(req.target, "/metrics") == 0 && used == 31,
	      "a leading empty line skipped, the query cut, the body not "
	      "taken");
	CHECK(parse("POST /metrics HTTP/1.1\r\n\r\n", &req, &used) ==
		      HTTPREQ_DONE && strcmp(req.method, "POST") == 0,
	      "another method parses (405 is the caller's)");
	CHECK(parse("GET /metrics HTTP/2.0\r\n\r\n", &req, &used) ==
		      HTTPREQ_BAD, "HTTP/2.0");
	CHECK(parse("GET  /metrics HTTP/1.1\r\n\r\n", &req, &used) ==
		      HTTPREQ_BAD, "two spaces");
	CHECK(parse("GET /metrics\r\n\r\n", &req, &used) == HTTPREQ_BAD,
	      "HTTP/0.9 form");
	CHECK(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &req, &used) ==
		      HTTPREQ_BAD, "a control byte in the target");
	CHECK(parse("GET / HTTP/1.1\r\n folded\r\n\r\n", &req, &used) ==
		      HTTPREQ_BAD, "obsolete folding");
	CHECK(parse("GET / HTTP/1.1\r\nno colon\r\n\r\n", &req, &used) ==
		      HTTPREQ_BAD, "a field without a colon");
	CHECK(parse("GETTINGLONGERTHANSIXTEEN / HTTP/1.1\r\n\r\n", &req,
		    &used) == HTTPREQ_BAD, "a method past its bound");
	{
		char line[400];

		memset(line, 'a', sizeof(line));
		memcpy(line, "GET /", 5);
		strcpy(line + 300, " HTTP/1.1\r\n\r\n");
		CHECK(parse(line, &req, &used) == HTTPREQ_BAD,
		      "a target past its bound");
	}
	return unit_done();
}
