/* libldap_load.c: see libldap_load.h. */
#define LIBLDAP_LOAD_SELF
#include "util/libldap_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* Module state: filled once (pthread_once) by libldap_load, read-only
 * afterwards. */
struct libldap_api libldap_api;
static pthread_once_t libldap_once = PTHREAD_ONCE_INIT;
static bool libldap_loaded;
static char libldap_error[256];

static void libldap_open(void)
{
	const char *missing = NULL;
	void *handle = dlopen("libldap-2.5.so.0", RTLD_NOW | RTLD_LOCAL);

	if (handle == NULL) {
		snprintf(libldap_error, sizeof(libldap_error),
			 "cannot load libldap-2.5.so.0 (install libldap-2.5-0): "
			 "%s", dlerror());
		return;
	}
/* f names a member: it cannot take parentheses */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define LIBLDAP_RESOLVE(f) \
	if (missing == NULL && \
	    (libldap_api.f = (__typeof__(f) *)dlsym(handle, #f)) == NULL) \
		missing = #f;
	LIBLDAP_FUNCTIONS(LIBLDAP_RESOLVE)
#undef LIBLDAP_RESOLVE
	if (missing != NULL) {
		snprintf(libldap_error, sizeof(libldap_error),
			 "libldap-2.5.so.0 has no %s (too old?)", missing);
		return;
	}
	libldap_loaded = true;
}

int libldap_load(const char **error_r)
{
	(void)pthread_once(&libldap_once, libldap_open);
	if (!libldap_loaded) {
		*error_r = libldap_error;
		return -1;
	}
	return 0;
}
