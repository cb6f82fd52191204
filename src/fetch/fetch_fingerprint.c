/* fetch_fingerprint.c: a message's identity from its header
 * (fetch_fingerprint.h). */
#include <string.h>
#include <sys/uio.h>

#include "fetch/fetch_fingerprint.h"
#include "fetch/fetch_header.h"

/* each value counts up to this (Subjects can be long; enough to tell) */
#define FP_VALUE_MAX 512

static const char *const fp_fields[] = {
	"Message-ID", "Date", "From", "Subject",
};
#define FP_FIELDS (sizeof(fp_fields) / sizeof(fp_fields[0]))

bool fetch_fingerprint(const char *msg, size_t len, char *out)
{
	char values[FP_FIELDS][FP_VALUE_MAX + 1];
	struct iovec parts[FP_FIELDS];
	bool any = false;
	size_t i;

	for (i = 0; i < FP_FIELDS; i++) {
		fetch_header_get(msg, len, fp_fields[i], values[i],
				 sizeof(values[i]));
		parts[i].iov_base = values[i];
		parts[i].iov_len = strlen(values[i]);
		any = any || parts[i].iov_len > 0;
	}
	return any && uidl_digest(parts, FP_FIELDS, out) == 0;
}
