/* auth_db.c: the passwd-file of the auth process: reloaded when it
 * changes or on SIGHUP, with the dummy hash unknown users are checked
 * against picked from it (see auth_server.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/rand.h>

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

/* Picks the secret an unknown user's password is checked against, so
 * the reply to a wrong user name takes as long as the reply to a wrong
 * password, whichever mechanism carried it: the first hashed (not
 * {PLAIN}) secret of the file (same scheme, same rounds); in a file of
 * {PLAIN} secrets only, a {PLAIN} one nobody knows (the same compare).
 * The check of a dummy never succeeds (auth_verify.c). */
static void auth_db_pick_dummy(struct auth_server *srv)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	size_t n = passwd_db_count(srv->db), i;
	bool plain = false;

	srv->dummy_stored[0] = '\0';
	for (i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(srv->db, i);

		if (!password_scheme_known(e->password) ||
		    strlen(e->password) >= sizeof(srv->dummy_stored))
			continue;
		if (!password_is_plain(e->password)) {
			strcpy(srv->dummy_stored, e->password);
			return;
		}
		plain = true;
	}
	if (!plain || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return; /* the built-in yescrypt dummy (password.h) */
	strcpy(srv->dummy_stored, "{PLAIN}");
	for (i = 0; i < sizeof(rnd); i++) {
		srv->dummy_stored[7 + 2 * i] = hex[rnd[i] >> 4];
		srv->dummy_stored[8 + 2 * i] = hex[rnd[i] & 15];
	}
	srv->dummy_stored[7 + 2 * sizeof(rnd)] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
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
