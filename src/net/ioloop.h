/* ioloop.h: the event loop of a worker: epoll for descriptors and a binary
 * heap of one-shot timers. Single-threaded; callbacks run inside
 * ioloop_run() and may add or remove any io or timer, including their own.
 */
#ifndef SATCHEL_IOLOOP_H
#define SATCHEL_IOLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define IO_READ  0x1u
#define IO_WRITE 0x2u

struct ioloop;
struct io;
struct timer;

typedef void io_callback(void *context, unsigned ready_events);
typedef void timer_callback(void *context);

/* NULL on failure (errno set). */
struct ioloop *ioloop_create(void);
void ioloop_destroy(struct ioloop **loopp);

/* Runs until ioloop_stop(). Returns 0, or -1 if epoll itself failed. */
int ioloop_run(struct ioloop *loop);
void ioloop_stop(struct ioloop *loop);

/* For a process whose own loop is poll() (the master's supervise loop):
 * the descriptor that is readable while an io of loop is ready, how long
 * until its first timer is due (-1: none, 0: now), and one round
 * without waiting: the ready ios, then the due timers. ioloop_run_once
 * returns 0, or -1 if epoll itself failed. */
int ioloop_fd(const struct ioloop *loop);
int ioloop_timeout_ms(struct ioloop *loop);
int ioloop_run_once(struct ioloop *loop);

/* Monotonic milliseconds, cached per loop iteration. */
uint64_t ioloop_now_ms(struct ioloop *loop);

/* Watches fd for events (IO_READ | IO_WRITE). NULL on failure. With
 * exclusive, one waiter per event is woken (listeners shared between
 * worker processes). */
struct io *io_add(struct ioloop *loop, int fd, unsigned events,
		  bool exclusive, io_callback *callback, void *context);
/* Changes the watched events. 0 or -1. */
int io_set_events(struct io *io, unsigned events);
/* Stops watching (does not close fd). NULL-safe, sets *iop = NULL. */
void io_remove(struct io **iop);

/* Calls callback once after msecs. NULL on out of memory. */
struct timer *timer_add(struct ioloop *loop, uint64_t msecs,
			timer_callback *callback, void *context);
/* Cancels a pending timer. NULL-safe, sets *timerp = NULL. A timer that
 * already fired must not be removed (its pointer is dead). */
void timer_remove(struct timer **timerp);

#endif
