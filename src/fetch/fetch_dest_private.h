/* fetch_dest_private.h: one destination kind's operations (fetch_dest.c
 * holds the store kinds and the MDA, fetch_smtp.c LMTP and SMTP). */
#ifndef SATCHEL_FETCH_DEST_PRIVATE_H
#define SATCHEL_FETCH_DEST_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "fetch/fetch_dest.h"

struct fetch_dest_ops {
	const char *prefix;    /* "maildir:" ... */
	int (*open)(struct fetch_dest *dest, const char *arg,
		    const char **error_r);
	void (*close)(struct fetch_dest *dest);
	int (*begin)(struct fetch_dest *dest, const char *key,
		     const struct fetch_envelope *env, const char **error_r);
	int (*write)(struct fetch_dest *dest, const char *data, size_t len,
		     const char **error_r);
	enum fetch_dest_result (*commit)(struct fetch_dest *dest,
					 const char **error_r);
	void (*abort)(struct fetch_dest *dest);
	/* makes every committed message durable (NULL: commit did) */
	int (*flush)(struct fetch_dest *dest, const char **error_r);
};

struct fetch_dest {
	const struct fetch_dest_ops *ops;
	struct fetch_dest_settings set;
	char arg[4096];            /* the spec after its prefix */
	char error_buf[512];
	void *impl;                /* the kind's own state */
};

extern const struct fetch_dest_ops fetch_dest_maildir_ops;
extern const struct fetch_dest_ops fetch_dest_mbox_ops;
extern const struct fetch_dest_ops fetch_dest_lmtp_ops;
extern const struct fetch_dest_ops fetch_dest_smtp_ops;

/* fetch_store.c: the keys of a Maildir destination's files. */
int fetch_store_keys(struct fetch_dest *dest,
		     bool (*fn)(const char *key, size_t len, void *context),
		     void *context, const char **error_r);

/* fetch_store.c: the start of each stored message (fetch_dest_heads). */
int fetch_store_heads(struct fetch_dest *dest,
		      void (*fn)(const char *data, size_t len, void *context),
		      void *context, const char **error_r);

#endif
