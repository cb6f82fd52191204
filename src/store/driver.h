/* driver.h: what a mail store format implements behind maildrop.h (private
 * to src/store). Each format embeds struct maildrop first in its own
 * struct and struct maildrop_reader first in its reader. */
#ifndef SATCHEL_STORE_DRIVER_H
#define SATCHEL_STORE_DRIVER_H

#include "store/maildrop.h"

struct maildrop_driver {
	int (*open)(const struct maildrop_settings *set,
		    struct maildrop **drop_r, const char **error_r);
	int (*refresh_lock)(struct maildrop *drop);
	int (*reader_open)(struct maildrop *drop, unsigned idx,
			   struct maildrop_reader **reader_r,
			   const char **error_r);
	/* Applies the session, releases the lock; does not free. */
	int (*commit)(struct maildrop *drop, unsigned *deleted_r,
		      const char **error_r);
	/* Releases the lock (if still held) and frees. */
	void (*free)(struct maildrop *drop);
};

struct maildrop_reader_vfuncs {
	ssize_t (*read)(struct maildrop_reader *reader, char *buf,
			size_t size);
	void (*free)(struct maildrop_reader *reader);
	/* Optional: a descriptor whose content, from offset 0 to its end,
	 * is exactly what read() gives (a Maildir file); owned by the
	 * reader. The mail agent passes it to the worker as it is. */
	int (*fd)(struct maildrop_reader *reader);
};

struct maildrop {
	const struct maildrop_driver *driver;
	struct maildrop_msg *msgs;
	unsigned count;
	unsigned expire_days;
	/* maildrop_uidl_hash(), "" until asked: kept with a snapshot that
	 * a worker keeps warm (its UIDLs cannot have changed then) */
	char uidl_hash[MAILDROP_UIDL_HASH_LEN + 1];
};

struct maildrop_reader {
	const struct maildrop_reader_vfuncs *v;
};

extern const struct maildrop_driver maildir_driver;
extern const struct maildrop_driver mbox_driver;
extern const struct maildrop_driver agent_driver;

/* True when message idx is to be removed at commit: DELE'd, or retrieved
 * in an earlier session more than expire_days ago (RFC 2449 EXPIRE). */
bool maildrop_msg_is_expired(const struct maildrop *drop, int64_t retrieved,
			     int64_t now);

/* maildrop_utf8.c: sets utf8 and wrap_size (maildrop.h) of every
 * message whose utf8 is MAILDROP_UTF8_UNKNOWN by reading it; returns how
 * many it found out (the driver records them in its index). A message
 * that cannot be read stays unknown. */
unsigned maildrop_utf8_scan(struct maildrop *drop);

#endif
