/* ioloop.c: epoll + timer heap (see ioloop.h). */
#include "net/ioloop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct io {
	struct ioloop *loop;
	int fd;
	unsigned events;
	io_callback *callback;
	void *context;
	bool removed;
	struct io *next_dead;
};

struct timer {
	struct ioloop *loop;
	uint64_t due_ms;
	size_t heap_index;
	timer_callback *callback;
	void *context;
};

struct ioloop {
	int epfd;
	bool running;
	uint64_t now_ms;
	struct timer **heap;
	size_t heap_len, heap_cap;
	/* ios removed during a dispatch round are freed after it, because a
	 * later event of the same round may still point at them. */
	struct io *dead;
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ioloop *ioloop_create(void)
{
	struct ioloop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->now_ms = monotonic_ms();
	return loop;
}

static void free_dead(struct ioloop *loop)
{
	while (loop->dead != NULL) {
		struct io *io = loop->dead;

		loop->dead = io->next_dead;
		free(io);
	}
}

void ioloop_destroy(struct ioloop **loopp)
{
	struct ioloop *loop = *loopp;

	if (loop == NULL)
		return;
	free_dead(loop);
	for (size_t i = 0; i < loop->heap_len; i++)
		free(loop->heap[i]);
	free(loop->heap);
	close(loop->epfd);
	free(loop);
	*loopp = NULL;
}

uint64_t ioloop_now_ms(struct ioloop *loop)
{
	return loop->now_ms;
}

void ioloop_stop(struct ioloop *loop)
{
	loop->running = false;
}

static uint32_t epoll_bits(unsigned events)
{
	uint32_t bits = 0;

	if (events & IO_READ)
		bits |= EPOLLIN | EPOLLRDHUP;
	if (events & IO_WRITE)
		bits |= EPOLLOUT;
	return bits;
}

struct io *io_add(struct ioloop *loop, int fd, unsigned events,
		  bool exclusive, io_callback *callback, void *context)
{
	struct io *io = calloc(1, sizeof(*io));
	struct epoll_event ev = { 0 };

	if (io == NULL)
		return NULL;
	io->loop = loop;
	io->fd = fd;
	io->events = events;
	io->callback = callback;
	io->context = context;
	/* EPOLLEXCLUSIVE accepts only EPOLLIN/EPOLLOUT beside it. */
	ev.events = exclusive ? (EPOLLIN | EPOLLEXCLUSIVE) : epoll_bits(events);
	ev.data.ptr = io;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(io);
		return NULL;
	}
	return io;
}

int io_set_events(struct io *io, unsigned events)
{
	struct epoll_event ev = { 0 };

	if (io->events == events)
		return 0;
	ev.events = epoll_bits(events);
	ev.data.ptr = io;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -1;
	io->events = events;
	return 0;
}

void io_remove(struct io **iop)
{
	struct io *io = *iop;

	if (io == NULL)
		return;
	/* The fd may already be closed by the caller; ENOENT/EBADF are fine. */
	(void)epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->removed = true;
	io->next_dead = io->loop->dead;
	io->loop->dead = io;
	*iop = NULL;
}

/* --- timer heap, ordered by due_ms --- */

static void heap_swap(struct ioloop *loop, size_t a, size_t b)
{
	struct timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_index = a;
	loop->heap[b]->heap_index = b;
}

static void heap_up(struct ioloop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->due_ms <= loop->heap[i]->due_ms)
			break;
		heap_swap(loop, parent, i);
		i = parent;
	}
}

static void heap_down(struct ioloop *loop, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, least = i;

		if (left < loop->heap_len &&
		    loop->heap[left]->due_ms < loop->heap[least]->due_ms)
			least = left;
		if (right < loop->heap_len &&
		    loop->heap[right]->due_ms < loop->heap[least]->due_ms)
			least = right;
		if (least == i)
			break;
		heap_swap(loop, i, least);
		i = least;
	}
}

static void heap_delete(struct ioloop *loop, size_t i)
{
	loop->heap_len--;
	if (i == loop->heap_len)
		return;
	loop->heap[i] = loop->heap[loop->heap_len];
	loop->heap[i]->heap_index = i;
	heap_down(loop, i);
	heap_up(loop, i);
}

struct timer *timer_add(struct ioloop *loop, uint64_t msecs,
			timer_callback *callback, void *context)
{
	struct timer *timer;

	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap == 0 ? 64 : loop->heap_cap * 2;
		struct timer **heap = realloc(loop->heap, cap * sizeof(*heap));

		if (heap == NULL)
			return NULL;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	timer = calloc(1, sizeof(*timer));
	if (timer == NULL)
		return NULL;
	timer->loop = loop;
	timer->due_ms = monotonic_ms() + msecs;
	timer->callback = callback;
	timer->context = context;
	timer->heap_index = loop->heap_len;
	loop->heap[loop->heap_len++] = timer;
	heap_up(loop, timer->heap_index);
	return timer;
}

void timer_remove(struct timer **timerp)
{
	struct timer *timer = *timerp;

	if (timer == NULL)
		return;
	heap_delete(timer->loop, timer->heap_index);
	free(timer);
	*timerp = NULL;
}

static void run_due_timers(struct ioloop *loop)
{
	while (loop->heap_len > 0 && loop->heap[0]->due_ms <= loop->now_ms) {
		struct timer *timer = loop->heap[0];
		timer_callback *callback = timer->callback;
		void *context = timer->context;

		heap_delete(loop, 0);
		free(timer);
		callback(context);
	}
}

/* Waits up to timeout ms (-1: until an io or the first timer is due),
 * then runs the ready ios and the due timers. 0, or -1 when epoll
 * failed. */
static int ioloop_round(struct ioloop *loop, int timeout)
{
	struct epoll_event events[128];
	int n;

	if (loop->heap_len > 0) {
		uint64_t due = loop->heap[0]->due_ms;
		int until;

		loop->now_ms = monotonic_ms();
		until = due <= loop->now_ms ? 0 :
			(int)(due - loop->now_ms > 60000 ?
			      60000 : due - loop->now_ms);
		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	n = epoll_wait(loop->epfd, events, 128, timeout);
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		/* A signal handler may have asked to stop. */
		n = 0;
	}
	loop->now_ms = monotonic_ms();
	for (int i = 0; i < n; i++) {
		struct io *io = events[i].data.ptr;
		unsigned ready = 0;

		if (io->removed)
			continue;
		if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
					EPOLLERR))
			ready |= IO_READ;
		if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			ready |= IO_WRITE;
		io->callback(io->context, ready);
	}
	free_dead(loop);
	run_due_timers(loop);
	free_dead(loop);
	return 0;
}

int ioloop_run(struct ioloop *loop)
{
	loop->running = true;
	while (loop->running) {
		if (ioloop_round(loop, -1) < 0)
			return -1;
	}
	return 0;
}

int ioloop_fd(const struct ioloop *loop)
{
	return loop->epfd;
}

int ioloop_timeout_ms(struct ioloop *loop)
{
	uint64_t due;

	if (loop->heap_len == 0)
		return -1;
	due = loop->heap[0]->due_ms;
	loop->now_ms = monotonic_ms();
	if (due <= loop->now_ms)
		return 0;
	return due - loop->now_ms > 60000 ? 60000 : (int)(due - loop->now_ms);
}

int ioloop_run_once(struct ioloop *loop)
{
	return ioloop_round(loop, 0);
}
