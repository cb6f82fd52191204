/* unit.h: a tiny test harness. Each check prints "ok - ..." or
 * "not ok - ..." (TAP-like); scripts/run-tests counts them. main() ends with
 * `return unit_done();`, which exits non-zero if anything failed. */
#ifndef SATCHEL_UNIT_H
#define SATCHEL_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond, name)                                                   \
	do {                                                                \
		unit_checks++;                                              \
		if (cond) {                                                 \
			printf("ok - %s\n", (name));                        \
		} else {                                                    \
			unit_failures++;                                    \
			printf("not ok - %s (%s:%d: %s)\n", (name), __FILE__, \
			       __LINE__, #cond);                            \
		}                                                           \
	} while (0)

#define CHECK_STR(got, want, name)                                          \
	do {                                                                \
		const char *got_ = (got), *want_ = (want);                  \
		unit_checks++;                                              \
		if (got_ != NULL && strcmp(got_, want_) == 0) {             \
			printf("ok - %s\n", (name));                        \
		} else {                                                    \
			unit_failures++;                                    \
			printf("not ok - %s (%s:%d: got \"%s\", want \"%s\")\n", \
			       (name), __FILE__, __LINE__,                  \
			       got_ ? got_ : "(null)", want_);              \
		}                                                           \
	} while (0)

static inline int unit_done(void)
{
	return unit_failures == 0 ? 0 : 1;
}

#endif
