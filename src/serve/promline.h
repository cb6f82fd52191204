/* promline.h: one line of the Prometheus text format (as our own
 * endpoint writes it), for `satchel status`. The text comes over the
 * network: untrusted, bounded, never echoed with control bytes. */
#ifndef SATCHEL_PROMLINE_H
#define SATCHEL_PROMLINE_H

#include <stddef.h>

#define PROMLINE_NAME_MAX 128
#define PROMLINE_LABELS_MAX 512

struct promline {
	char name[PROMLINE_NAME_MAX];
	/* the labels for a person: `mechanism=USER result=ok` */
	char labels[PROMLINE_LABELS_MAX];
	double value;
};

enum promline_kind {
	PROMLINE_BAD = -1,     /* not a sample line */
	PROMLINE_NONE = 0,     /* a comment or an empty line */
	PROMLINE_SAMPLE = 1,   /* out is filled */
};

/* Parses line[0..len) (no newline): name, optional {label="value",...}
 * (escapes \\ \" \n), a blank, the value, an optional timestamp. */
enum promline_kind promline_parse(const char *line, size_t len,
				  struct promline *out);

#endif
