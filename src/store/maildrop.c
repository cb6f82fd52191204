/* maildrop.c: the format-independent face of the mail stores: dispatches
 * maildrop.h calls to the Maildir or mbox driver. */
#include <stdio.h>
#include <stdlib.h>

#include "store/driver.h"
#include "store/storeroot.h"

static const struct maildrop_driver *const maildrop_drivers[] = {
	[MAILDROP_MAILDIR] = &maildir_driver,
	[MAILDROP_MBOX] = &mbox_driver,
	[MAILDROP_AGENT] = &agent_driver,
};

int maildrop_open(const struct maildrop_settings *set,
		  struct maildrop **drop_r, const char **error_r)
{
	if ((unsigned)set->kind >=
	    sizeof(maildrop_drivers) / sizeof(maildrop_drivers[0])) {
		*error_r = "unknown mail store kind";
		return MAILDROP_PERM;
	}
	/* the agent checks the marker itself, before its own open */
	if (set->kind != MAILDROP_AGENT &&
	    storeroot_check(set->store_marker, error_r) < 0)
		return MAILDROP_TEMP;
	return maildrop_drivers[set->kind]->open(set, drop_r, error_r);
}

unsigned maildrop_count(const struct maildrop *drop)
{
	return drop->count;
}

struct maildrop_msg *maildrop_msg(struct maildrop *drop, unsigned idx)
{
	return idx < drop->count ? &drop->msgs[idx] : NULL;
}

int maildrop_refresh_lock(struct maildrop *drop)
{
	return drop->driver->refresh_lock(drop);
}

int maildrop_reader_open(struct maildrop *drop, unsigned idx,
			 struct maildrop_reader **reader_r,
			 const char **error_r)
{
	if (idx >= drop->count) {
		*error_r = "no such message";
		return MAILDROP_PERM;
	}
	return drop->driver->reader_open(drop, idx, reader_r, error_r);
}

ssize_t maildrop_reader_read(struct maildrop_reader *reader, char *buf,
			     size_t size)
{
	return reader->v->read(reader, buf, size);
}

int maildrop_reader_fd(struct maildrop_reader *reader)
{
	return reader->v->fd != NULL ? reader->v->fd(reader) : -1;
}

void maildrop_reader_destroy(struct maildrop_reader **readerp)
{
	struct maildrop_reader *reader = *readerp;

	if (reader == NULL)
		return;
	*readerp = NULL;
	reader->v->free(reader);
}

bool maildrop_msg_is_expired(const struct maildrop *drop, int64_t retrieved,
			     int64_t now)
{
	return drop->expire_days > 0 && retrieved > 0 &&
	       retrieved <= now - (int64_t)drop->expire_days * 86400;
}

int maildrop_commit(struct maildrop **dropp, unsigned *deleted_r,
		    const char **error_r)
{
	struct maildrop *drop = *dropp;
	int ret;

	*dropp = NULL;
	*deleted_r = 0;
	ret = drop->driver->commit(drop, deleted_r, error_r);
	drop->driver->free(drop);
	return ret;
}

void maildrop_close(struct maildrop **dropp)
{
	struct maildrop *drop = *dropp;

	if (drop == NULL)
		return;
	*dropp = NULL;
	drop->driver->free(drop);
}

const char *maildrop_uidl_hash(struct maildrop *drop)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */

	if (drop->uidl_hash[0] != '\0')
		return drop->uidl_hash;
	for (unsigned i = 0; i < drop->count; i++) {
		for (const char *u = drop->msgs[i].uidl; *u != '\0'; u++)
			h = (h ^ (unsigned char)*u) * 1099511628211ULL;
		h = (h ^ '\n') * 1099511628211ULL;
	}
	snprintf(drop->uidl_hash, sizeof(drop->uidl_hash), "%016llx",
		 (unsigned long long)h);
	return drop->uidl_hash;
}
