/* pidfile.h: the master's pid file: made atomically (it appears whole,
 * with the pid in it, or not at all), locked with flock(2) for as long
 * as the process that made it lives (a second instance sees the lock
 * and refuses to start; a file left by a killed process is unlocked and
 * taken over), removed at a clean exit. Readers (satchel reload, stop,
 * status) trust the pid only while the file is locked. */
#ifndef SATCHEL_PIDFILE_H
#define SATCHEL_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pidfile {
	int fd;            /* holds the lock; -1: none */
	char path[1024];
};

enum pidfile_result {
	PIDFILE_OK = 0,
	PIDFILE_ERROR = -1,    /* err says why (errno-based) */
	PIDFILE_RUNNING = -2,  /* another live process holds it: *pid_r */
};

/* Makes path with getpid() in it, locked. PIDFILE_OK; PIDFILE_RUNNING
 * with the holder's pid in *pid_r (0 if it could not be read); or
 * PIDFILE_ERROR with err. A forked child shares the lock while it keeps
 * pf->fd open: children that may outlive the maker close it. */
enum pidfile_result pidfile_create(const char *path, struct pidfile *pf,
				   pid_t *pid_r, char *err, size_t errsize);
/* Removes the file (when it is still ours) and drops the lock.
 * Safe on a pidfile that was never made (fd -1). */
void pidfile_remove(struct pidfile *pf);

/* The pid of the live process holding path: PIDFILE_OK with *pid_r;
 * PIDFILE_ERROR with err when there is no file, it is not locked (the
 * process is gone) or holds no pid. */
enum pidfile_result pidfile_read(const char *path, pid_t *pid_r, char *err,
				 size_t errsize);
/* True while some process holds the lock of path (false when the file
 * is gone or unlocked). */
bool pidfile_locked(const char *path);

#endif
