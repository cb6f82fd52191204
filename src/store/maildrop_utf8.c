/* maildrop_utf8.c: which messages of a snapshot need UTF-8 mode (RFC
 * 6856 5.) and the sizes of their ASCII surrogates (utf8wrap.h), for the
 * drivers' open (driver.h). Reading a message for it means reading all
 * of it (MIME part headers), so the drivers keep the answers in their
 * index and this runs only for the messages it does not know. */
#include "store/driver.h"
#include "store/mimescan.h"
#include "store/utf8wrap.h"

static ssize_t maildrop_utf8_read(void *ctx, char *buf, size_t size)
{
	return maildrop_reader_read(ctx, buf, size);
}

/* The surrogate's size of message idx, 0 when it cannot be made. */
static uint64_t maildrop_utf8_wrap_size(struct maildrop *drop, unsigned idx)
{
	struct maildrop_reader *reader;
	struct utf8wrap *w;
	const char *ignored;
	uint64_t size = 0;

	if (drop->driver->reader_open(drop, idx, &reader, &ignored) !=
	    MAILDROP_OK)
		return 0;
	if (utf8wrap_open(maildrop_utf8_read, reader, &w, &ignored) == 0) {
		size = utf8wrap_total(w, drop->msgs[idx].size);
		utf8wrap_destroy(&w);
	}
	maildrop_reader_destroy(&reader);
	return size;
}

unsigned maildrop_utf8_scan(struct maildrop *drop)
{
	unsigned i, scanned = 0;

	for (i = 0; i < drop->count; i++) {
		struct maildrop_msg *m = &drop->msgs[i];
		struct maildrop_reader *reader;
		const char *ignored;
		int needs;

		if (m->utf8 != MAILDROP_UTF8_UNKNOWN)
			continue;
		if (drop->driver->reader_open(drop, i, &reader, &ignored) !=
		    MAILDROP_OK)
			continue; /* unknown: its RETR fails anyway */
		needs = mimescan_message(maildrop_utf8_read, reader);
		maildrop_reader_destroy(&reader);
		if (needs < 0)
			continue;
		if (needs == 1) {
			/* a surrogate that cannot be made now (a read error,
			 * out of memory) is not recorded: asked again next
			 * time rather than sent as stored for ever */
			m->wrap_size = maildrop_utf8_wrap_size(drop, i);
			if (m->wrap_size == 0)
				continue;
		}
		m->utf8 = needs == 1 ? MAILDROP_UTF8_YES : MAILDROP_UTF8_NO;
		scanned++;
	}
	return scanned;
}
