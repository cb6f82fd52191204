/* libpq_load.c: see libpq_load.h. */
#define LIBPQ_LOAD_SELF
#include "util/libpq_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* Module state: filled once (pthread_once) by libpq_load, read-only
 * afterwards. */
struct libpq_api libpq_api;
static pthread_once_t libpq_once = PTHREAD_ONCE_INIT;
static bool libpq_loaded;
static char libpq_error[256];

static void libpq_open(void)
{
	const char *missing = NULL;
	void *handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);

	if (handle == NULL) {
		snprintf(libpq_error, sizeof(libpq_error),
			 "cannot load libpq.so.5 (install libpq5): %s", dlerror());
		return;
	}
/* f names a member: it cannot take parentheses */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define LIBPQ_RESOLVE(f) \
	if (missing == NULL && \
	    (libpq_api.f = (__typeof__(f) *)dlsym(handle, #f)) == NULL) \
		missing = #f;
	LIBPQ_FUNCTIONS(LIBPQ_RESOLVE)
#undef LIBPQ_RESOLVE
	if (missing != NULL) {
		snprintf(libpq_error, sizeof(libpq_error),
			 "libpq.so.5 has no %s (too old?)", missing);
		return;
	}
	libpq_loaded = true;
}

int libpq_load(const char **error_r)
{
	(void)pthread_once(&libpq_once, libpq_open);
	if (!libpq_loaded) {
		*error_r = libpq_error;
		return -1;
	}
	return 0;
}
