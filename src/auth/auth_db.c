/* auth_db.c: the passwd-file of the auth process: reloaded when it
 * changes or on SIGHUP, with the dummy hash unknown users are checked
 * against picked from it (see auth_server.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth_server.h"
#include "auth/password.h"
#include "util/log.h"

static void auth_db_warn_schemes(const struct passwd_db *db)
{
	size_t i, n = passwd_db_count(db), unknown = 0;
	const struct passwd_entry *first = NULL;

	for (i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(db, i);

		if (!password_scheme_known(e->password)) {
			if (first == NULL)
				first = e;
			unknown++;
		}
	}
	if (unknown > 0) {
		log_warn("%zu users have an unknown password scheme and "
			 "cannot log in (first: %s)", unknown, first->user);
	}
}

/* Picks the first hashed (not {PLAIN}) secret of the file as the one an
 * unknown user's password is checked against, so the reply to a wrong
 * user name takes as long as the reply to a wrong password, whichever
 * mechanism carried it. */
static void auth_db_pick_dummy(struct auth_server *srv)
{
	size_t n = passwd_db_count(srv->db);

	srv->dummy_stored[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(srv->db, i);

		if (password_scheme_known(e->password) &&
		    !password_is_plain(e->password) &&
		    strlen(e->password) < sizeof(srv->dummy_stored)) {
			strcpy(srv->dummy_stored, e->password);
			return;
		}
	}
}

void auth_db_check(struct auth_server *srv, bool force)
{
	const char *path = srv->cfg->passwd_file;
	struct passwd_db *db;
	char err[512];
	struct stat st;

	if (stat(path, &st) < 0) {
		if (!srv->stat_failed) {
			log_error("%s: %s%s", path, strerror(errno),
				  srv->db != NULL ?
				  "; keeping the loaded users" : "");
		}
		srv->stat_failed = true;
		srv->file_known = false;
		return;
	}
	srv->stat_failed = false;
	if (!force && srv->file_known && st.st_dev == srv->file_dev &&
	    st.st_ino == srv->file_ino && st.st_size == srv->file_size &&
	    st.st_mtim.tv_sec == srv->file_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == srv->file_mtime.tv_nsec)
		return;
	/* remembered even if the load fails: retry when it changes again */
	srv->file_known = true;
	srv->file_dev = st.st_dev;
	srv->file_ino = st.st_ino;
	srv->file_size = st.st_size;
	srv->file_mtime = st.st_mtim;
	if (passwd_db_load(path, &db, err, sizeof(err)) < 0) {
		log_error("passwd-file not loaded: %s%s", err,
			  srv->db != NULL ?
			  "; keeping the previous users" : "");
		return;
	}
	passwd_db_destroy(&srv->db);
	srv->db = db;
	auth_db_pick_dummy(srv);
	log_info("loaded %zu users from %s", passwd_db_count(db), path);
	auth_db_warn_schemes(db);
	if (srv->sasl != NULL)
		sasl_server_check_db(srv->sasl, db);
}
