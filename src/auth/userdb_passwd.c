/* userdb_passwd.c: the passwd-file driver (userdb_private.h): the file
 * (passwd.h) held in memory, reloaded when a stat shows it changed (about
 * a microsecond per request, so a request sent after an edit sees the
 * edit) or when forced; a failed load keeps the users already loaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/userdb_private.h"
#include "util/log.h"

struct userdb_passwd {
	char *path;
	struct passwd_db *db;          /* NULL: never loaded */
	/* identity of the file last loaded (or tried) */
	bool file_known, stat_failed;
	dev_t file_dev;
	ino_t file_ino;
	off_t file_size;
	struct timespec file_mtime;
};

static bool userdb_passwd_same(const struct userdb_passwd *p,
			       const struct stat *st)
{
	return p->file_known && st->st_dev == p->file_dev &&
	       st->st_ino == p->file_ino && st->st_size == p->file_size &&
	       st->st_mtim.tv_sec == p->file_mtime.tv_sec &&
	       st->st_mtim.tv_nsec == p->file_mtime.tv_nsec;
}

static bool userdb_passwd_check(void *state, bool force)
{
	struct userdb_passwd *p = state;
	struct passwd_db *db;
	char err[512];
	struct stat st;

	if (stat(p->path, &st) < 0) {
		if (!p->stat_failed) {
			log_error("%s: %s%s", p->path, strerror(errno),
				  p->db != NULL ?
				  "; keeping the loaded users" : "");
		}
		p->stat_failed = true;
		p->file_known = false;
		return false;
	}
	p->stat_failed = false;
	if (!force && userdb_passwd_same(p, &st))
		return false;
	/* remembered even if the load fails: retry when it changes again */
	p->file_known = true;
	p->file_dev = st.st_dev;
	p->file_ino = st.st_ino;
	p->file_size = st.st_size;
	p->file_mtime = st.st_mtim;
	if (passwd_db_load(p->path, &db, err, sizeof(err)) < 0) {
		log_error("passwd-file not loaded: %s%s", err,
			  p->db != NULL ? "; keeping the previous users" : "");
		return false;
	}
	/* the first load is the opener's to report (an LDA's stderr
	 * starts with its status line) */
	if (p->db != NULL)
		log_info("loaded %zu users from %s", passwd_db_count(db),
			 p->path);
	passwd_db_destroy(&p->db);
	p->db = db;
	return true;
}

static int userdb_passwd_open(const char *path,
			      const struct auth_settings *set, void **state_r,
			      const char **error_r)
{
	struct userdb_passwd *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->path = strdup(path)) == NULL) {
		free(p);
		*error_r = "out of memory";
		return -1;
	}
	/* not readable yet is no error: it is loaded when it appears */
	(void)userdb_passwd_check(p, true);
	*state_r = p;
	return 0;
}

static enum userdb_status userdb_passwd_get(void *state, const char *user,
					    bool cached_only,
					    const struct passwd_entry **entry_r)
{
	struct userdb_passwd *p = state;

	if (p->db == NULL)
		return USERDB_ERROR;
	*entry_r = passwd_db_lookup(p->db, user);
	return *entry_r != NULL ? USERDB_FOUND : USERDB_UNKNOWN;
}

static void userdb_passwd_each(void *state, userdb_each_fn *fn, void *context)
{
	struct userdb_passwd *p = state;
	size_t i, n = passwd_db_count(p->db);

	for (i = 0; i < n; i++) {
		if (!fn(passwd_db_entry(p->db, i), context))
			return;
	}
}

static void userdb_passwd_close(void *state)
{
	struct userdb_passwd *p = state;

	passwd_db_destroy(&p->db);
	free(p->path);
	free(p);
}

const struct userdb_driver userdb_passwd_driver = {
	.name = "passwd-file",
	.open = userdb_passwd_open,
	.check = userdb_passwd_check,
	.get = userdb_passwd_get,
	.each = userdb_passwd_each,
	.close = userdb_passwd_close,
};
