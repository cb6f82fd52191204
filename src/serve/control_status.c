/* control_status.c: `satchel status` prints the counters of the running
 * server for a person. It asks the master's own endpoint (GET /metrics on
 * metrics_listen), so what it shows is exactly what Prometheus scrapes;
 * the counters' shared memory is an anonymous mapping only the master's
 * process tree can see, on purpose (a file-backed one would show every
 * reader of the file who logs in and who fails). */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "config/config.h"
#include "net/listener.h"
#include "serve/control.h"
#include "serve/promline.h"
#include "util/fileio.h"

/* Our page is ~10 KB with 64 workers; a larger answer is not ours. */
#define STATUS_RESPONSE_MAX (1 << 20)
#define STATUS_TIMEOUT_SECS 5

static int connect_to(const char *addr, char *err, size_t errsize)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct timeval tv = { .tv_sec = STATUS_TIMEOUT_SECS };
	struct addrinfo *res = NULL;
	char host[256], port[16];
	int fd = -1, rc;

	if (listener_parse_addr(addr, host, sizeof(host), port,
				sizeof(port)) < 0) {
		snprintf(err, errsize, "metrics_listen %s: not host:port",
			 addr);
		return -1;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errsize, "%s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* the send timeout bounds connect(2) too (socket(7)) */
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		snprintf(err, errsize, "%s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* The body of GET /metrics (malloc'd, NUL-terminated), or NULL with err. */
static char *fetch_metrics(const char *addr, char *err, size_t errsize)
{
	static const char request[] = "GET /metrics HTTP/1.0\r\n"
				      "User-Agent: satchel-status\r\n\r\n";
	char *buf = malloc(STATUS_RESPONSE_MAX + 1), *body;
	int fd = connect_to(addr, err, errsize);
	ssize_t n;

	if (fd < 0 || buf == NULL) {
		if (buf == NULL)
			snprintf(err, errsize, "out of memory");
		goto out_fail;
	}
	if (fileio_write_all(fd, request, sizeof(request) - 1) < 0) {
		snprintf(err, errsize, "%s: %s", addr, strerror(errno));
		goto out_fail;
	}
	/* the endpoint closes after its answer */
	n = fileio_read_full(fd, buf, STATUS_RESPONSE_MAX);
	if (n < 0) {
		snprintf(err, errsize, "%s: %s", addr, strerror(errno));
		goto out_fail;
	}
	buf[n] = '\0';
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 &&
	    strncmp(buf, "HTTP/1.0 200 ", 13) != 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		snprintf(err, errsize, "%s answered \"%.80s\"", addr, buf);
		goto out_fail;
	}
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL) {
		snprintf(err, errsize, "%s: no end of the response head",
			 addr);
		goto out_fail;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	close(fd);
	return buf;

out_fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* One sample for a person: satchel_ and _total dropped; histogram
 * buckets and labelled zeros (a login result never seen) left out. */
static void print_sample(const struct promline *p, double *open_sum)
{
	char name[PROMLINE_NAME_MAX], what[PROMLINE_NAME_MAX +
					   PROMLINE_LABELS_MAX + 2];
	const char *n = p->name;

	if (strncmp(n, "satchel_", 8) == 0)
		n += 8;
	snprintf(name, sizeof(name), "%s", n);
	if (ends_with(name, "_total"))
		name[strlen(name) - 6] = '\0';
	if (ends_with(name, "_bucket") ||
	    (p->labels[0] != '\0' && p->value == 0 &&
	     strncmp(name, "worker_", 7) != 0))
		return;
	if (ends_with(name, "_seconds_sum")) {
		*open_sum = p->value;
		return;
	}
	if (ends_with(name, "_seconds_count")) {
		name[strlen(name) - 14] = '\0';
		printf("  %-44s %.0f (mean %.1f ms)\n", name, p->value,
		       p->value > 0 ? *open_sum / p->value * 1000 : 0.0);
		return;
	}
	snprintf(what, sizeof(what), "%s%s%s", name, p->labels[0] ? " " : "",
		 p->labels);
	printf("  %-44s %.0f\n", what, p->value);
}

int control_print_metrics(const char *metrics_listen)
{
	char err[512], *text = fetch_metrics(metrics_listen, err, sizeof(err));
	double open_sum = 0;
	char *line, *save = NULL;
	unsigned bad = 0;

	if (text == NULL) {
		fprintf(stderr, "satchel status: metrics: %s\n", err);
		return EX_UNAVAILABLE;
	}
	printf("counters from http://%s/metrics:\n", metrics_listen);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		struct promline p;

		switch (promline_parse(line, strlen(line), &p)) {
		case PROMLINE_SAMPLE:
			print_sample(&p, &open_sum);
			break;
		case PROMLINE_BAD:
			bad++;
			break;
		case PROMLINE_NONE:
			break;
		}
	}
	free(text);
	if (bad > 0) {
		fprintf(stderr, "satchel status: %u lines of the answer were "
			"not metrics\n", bad);
		return EX_PROTOCOL;
	}
	return EX_OK;
}
