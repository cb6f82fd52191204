/* httpreq.c: the head of an HTTP/1.x request (see httpreq.h). */
#include "net/httpreq.h"

#include <stdbool.h>
#include <string.h>

/* RFC 9110 5.6.2: tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The end of the line at buf[pos..len): the index of its LF, or -1. The
 * line's length without CR LF goes to *line_len_r. */
static long line_end(const char *buf, size_t len, size_t pos,
		     size_t *line_len_r)
{
	const char *lf = memchr(buf + pos, '\n', len - pos);
	size_t n;

	if (lf == NULL)
		return -1;
	n = (size_t)(lf - (buf + pos));
	if (n > 0 && buf[pos + n - 1] == '\r')
		n--;
	*line_len_r = n;
	return lf - buf;
}

static int parse_request_line(const char *line, size_t len,
			      struct httpreq *req, const char **error_r)
{
	size_t i = 0, m = 0, t = 0;

	while (i < len && is_tchar((unsigned char)line[i])) {
		if (m + 1 >= sizeof(req->method)) {
			*error_r = "method too long";
			return -1;
		}
		req->method[m++] = line[i++];
	}
	req->method[m] = '\0';
	if (m == 0 || i >= len || line[i] != ' ') {
		*error_r = "malformed request line";
		return -1;
	}
	i++;
	/* request-target: visible US-ASCII, up to the next space */
	while (i < len && line[i] != ' ') {
		unsigned char c = (unsigned char)line[i];

		if (c <= 0x20 || c >= 0x7f) {
			*error_r = "invalid character in the request target";
			return -1;
		}
		if (t + 1 >= sizeof(req->target)) {
			*error_r = "request target too long";
			return -1;
		}
		req->target[t++] = line[i++];
	}
	req->target[t] = '\0';
	if (t == 0 || i >= len) {
		*error_r = "malformed request line";
		return -1;
	}
	i++;
	if (len - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0 ||
	    (line[i + 7] != '0' && line[i + 7] != '1')) {
		*error_r = "not HTTP/1.0 or HTTP/1.1";
		return -1;
	}
	req->version_minor = (unsigned)(line[i + 7] - '0');
	/* the query is not ours to interpret */
	req->target[strcspn(req->target, "?")] = '\0';
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5.) */
static bool field_line_valid(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= len || line[i] != ':')
		return false;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

enum httpreq_status httpreq_parse(const char *buf, size_t len,
				  struct httpreq *req, size_t *used_r,
				  const char **error_r)
{
	size_t pos = 0, n;
	long end;

	memset(req, 0, sizeof(*req));
	/* RFC 9112 2.2: empty lines before the request line are ignored */
	while ((end = line_end(buf, len, pos, &n)) >= 0 && n == 0)
		pos = (size_t)end + 1;
	if (end < 0)
		return HTTPREQ_MORE;
	if (parse_request_line(buf + pos, n, req, error_r) < 0)
		return HTTPREQ_BAD;
	pos = (size_t)end + 1;
	for (;;) {
		end = line_end(buf, len, pos, &n);
		if (end < 0)
			return HTTPREQ_MORE;
		if (n == 0)
			break;
		if (buf[pos] == ' ' || buf[pos] == '\t' ||
		    !field_line_valid(buf + pos, n)) {
			*error_r = "malformed header field";
			return HTTPREQ_BAD;
		}
		pos = (size_t)end + 1;
	}
	*used_r = (size_t)end + 1;
	return HTTPREQ_DONE;
}
