/* bench_conn.c: the socket side of one load-generator connection, shared
 * by the POP3 client (client.c) and the LMTP client (lmtp_client.c):
 * connect, the event registration, the queued output, the stall clock. */
#include "bench/bench.h"

#include "net/conn.h"
#include "net/ioloop.h"

void bench_conn_init(struct bench_conn *bc, char *out)
{
	conn_init(&bc->conn, -1);
	bc->io = NULL;
	bc->out = out;
	bc->out_off = bc->out_len = 0;
}

int bench_conn_open(struct bench_conn *bc, struct bench *b, io_callback *cb,
		    void *context)
{
	socklen_t addrlen;
	const struct sockaddr *addr = bench_addr(b, &addrlen);

	bc->out_off = bc->out_len = 0;
	bc->progress_us = bench_now_us();
	if (conn_connect(&bc->conn, addr, addrlen) < 0)
		return -1;
	/* the connect completes when the socket is writable */
	bc->events = IO_WRITE;
	bc->io = io_add(bench_loop(b), bc->conn.fd, IO_WRITE, false, cb,
			context);
	return bc->io == NULL ? -1 : 0;
}

int bench_conn_connected(struct bench_conn *bc)
{
	int ret = conn_connect_finish(&bc->conn);

	if (ret > 0)
		bc->progress_us = bench_now_us();
	return ret;
}

void bench_conn_close(struct bench_conn *bc)
{
	io_remove(&bc->io);
	conn_deinit(&bc->conn);
}

int bench_conn_flush(struct bench_conn *bc)
{
	while (bc->out_off < bc->out_len) {
		ssize_t n = conn_write(&bc->conn, bc->out + bc->out_off,
				       bc->out_len - bc->out_off);

		if (n == CONN_AGAIN)
			return 0;
		if (n < 0)
			return -1;
		bc->out_off += (size_t)n;
	}
	return 0;
}

ssize_t bench_conn_read(struct bench_conn *bc, char *buf, size_t room)
{
	ssize_t n = conn_read(&bc->conn, buf, room);

	if (n == CONN_AGAIN)
		return 0;
	if (n > 0)
		bc->progress_us = bench_now_us();
	return n;
}

bool bench_conn_flushed(const struct bench_conn *bc)
{
	return bc->out_off == bc->out_len;
}

void bench_conn_update_events(struct bench_conn *bc)
{
	unsigned events = conn_wanted(&bc->conn, true,
				      bc->out_off < bc->out_len);

	if (events != bc->events && io_set_events(bc->io, events) == 0)
		bc->events = events;
}

bool bench_conn_stalled(const struct bench_conn *bc, const struct bench *b,
			uint64_t now_us)
{
	return now_us - bc->progress_us >
	       (uint64_t)(bench_options(b)->step_timeout * 1e6);
}
