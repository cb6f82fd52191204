/* auth_db.c: the user databases of the auth process (userdb.h): opened
 * at start, checked before each request (a changed passwd-file is
 * reloaded, SQLite records read before another's commit are dropped)
 * and on SIGHUP, with the dummy hash unknown users are checked against
 * picked from them (see auth_server.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "auth/auth_flush.h"
#include "auth/auth_server.h"
#include "auth/password.h"
#include "util/log.h"

/* What one pass over the users finds: the count, the unknown schemes,
 * and the dummy's secret. */
struct auth_db_scan {
	size_t users, unknown;
	char first_unknown[AUTH_LOG_USER_MAX];
	char hashed[HASHPOOL_STORED_MAX];   /* the first hashed secret */
	bool plain;                          /* a {PLAIN} one was seen */
};

static bool auth_db_scan_one(const struct passwd_entry *e, void *context)
{
	struct auth_db_scan *sc = context;

	sc->users++;
	if (!password_scheme_known(e->password)) {
		if (sc->unknown++ == 0)
			snprintf(sc->first_unknown, sizeof(sc->first_unknown),
				 "%s", e->user);
		return true;
	}
	if (strlen(e->password) >= sizeof(sc->hashed))
		return true;
	if (!password_is_plain(e->password)) {
		if (sc->hashed[0] == '\0')
			strcpy(sc->hashed, e->password);
	} else {
		sc->plain = true;
	}
	return true;
}

/* A driver's own dummy (userdb_dummy): PAM's users cost a PAM
 * conversation and its failure delay, so an unknown name goes through
 * PAM too (which knows it not) and costs the same. True when taken. */
static bool auth_db_own_dummy(struct auth_server *srv)
{
	const char *own = userdb_dummy(srv->db);

	if (own == NULL || strlen(own) >= sizeof(srv->dummy_stored))
		return false;
	strcpy(srv->dummy_stored, own);
	srv->dummy_from_lookup = false;
	return true;
}

/* Picks the secret an unknown user's password is checked against, so
 * the reply to a wrong user name takes as long as the reply to a wrong
 * password, whichever mechanism carried it: the first hashed (not
 * {PLAIN}) secret of the users (same scheme, same rounds); among {PLAIN}
 * secrets only, a {PLAIN} one nobody knows (the same compare). The check
 * of a dummy never succeeds (auth_verify.c). */
static void auth_db_pick_dummy(struct auth_server *srv,
			       const struct auth_db_scan *sc)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	size_t i;

	srv->dummy_stored[0] = '\0';
	if (auth_db_own_dummy(srv))
		return;
	srv->dummy_from_lookup = sc->hashed[0] == '\0';
	if (sc->hashed[0] != '\0') {
		strcpy(srv->dummy_stored, sc->hashed);
		return;
	}
	if (!sc->plain || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return; /* the built-in yescrypt dummy (password.h) */
	strcpy(srv->dummy_stored, "{PLAIN}");
	for (i = 0; i < sizeof(rnd); i++) {
		srv->dummy_stored[7 + 2 * i] = hex[rnd[i] >> 4];
		srv->dummy_stored[8 + 2 * i] = hex[rnd[i] & 15];
	}
	srv->dummy_stored[7 + 2 * sizeof(rnd)] = '\0';
	explicit_bzero(rnd, sizeof(rnd));
}

int auth_db_open(struct auth_server *srv)
{
	const char *error;

	if (userdb_open(srv->set, &srv->db, &error) < 0) {
		log_error("user database %s: %s; every login fails "
			  "temporarily", srv->set->users, error);
		return -1;
	}
	/* the loop never waits for a database (userdb.h) */
	userdb_set_async(srv->db, true);
	/* databases that list nobody (pgsql without an iterate query,
	 * ldap) never make auth_db_check pick a dummy: the first user
	 * looked up gives it */
	srv->dummy_from_lookup = true;
	auth_db_check(srv, true);
	(void)auth_db_own_dummy(srv);
	return 0;
}

void auth_db_learn_dummy(struct auth_server *srv,
			 const struct passwd_entry *entry)
{
	/* the same rule as a listing's: the first hashed secret */
	if (!srv->dummy_from_lookup || !password_scheme_known(entry->password) ||
	    password_is_plain(entry->password))
		return;
	/* the same scheme, never the same account ({LDAP-BIND}) */
	if (password_dummy_from(entry->password, srv->dummy_stored,
				sizeof(srv->dummy_stored)) < 0) {
		srv->dummy_stored[0] = '\0';
		return;
	}
	srv->dummy_from_lookup = false;
}

/* ---- satchel auth flush ----
 *
 * The command appends one line per request to state_dir/auth-flush: a
 * user name, or "*" for everyone (auth_flush.h). Each auth process
 * remembers how far it read (its start: the end, its cache is empty
 * then), so every generation applies each line once; a file replaced or
 * cut shorter is read from its start again (a flush twice is harmless). */
void auth_db_flush_poll(struct auth_server *srv)
{
	char path[AUTH_SETTING_STR + 32], line[AUTH_USER_MAX + 2];
	bool first = !srv->flush_started;
	struct stat st;
	FILE *f;

	srv->flush_started = true;
	if (srv->set->state_dir[0] == '\0' ||
	    auth_flush_path(srv->set->state_dir, path, sizeof(path)) < 0 ||
	    stat(path, &st) < 0)
		return;
	if ((unsigned long long)st.st_ino == srv->flush_ino &&
	    st.st_size == srv->flush_off)
		return;
	if (first) {
		srv->flush_ino = (unsigned long long)st.st_ino;
		srv->flush_off = st.st_size;
		return;
	}
	if ((unsigned long long)st.st_ino != srv->flush_ino ||
	    st.st_size < srv->flush_off)
		srv->flush_off = 0;
	f = fopen(path, "re");
	if (f == NULL)
		return;
	if (fseeko(f, srv->flush_off, SEEK_SET) == 0) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char *nl = strchr(line, '\n');
			char user_log[AUTH_LOG_USER_MAX];

			if (nl == NULL)
				break; /* a line being written: next time */
			*nl = '\0';
			srv->flush_off = ftello(f);
			if (line[0] == '\0')
				continue;
			userdb_flush(srv->db, strcmp(line, "*") == 0 ? NULL :
				     line);
			log_sanitize(line, strlen(line), user_log,
				     sizeof(user_log));
			log_info("auth flush: %s", strcmp(line, "*") == 0 ?
				 "every cached user" : user_log);
		}
	}
	srv->flush_ino = (unsigned long long)st.st_ino;
	fclose(f);
}

void auth_db_check(struct auth_server *srv, bool force)
{
	struct auth_db_scan sc;

	auth_db_flush_poll(srv);
	if (srv->db == NULL || !userdb_check(srv->db, force))
		return;
	/* the users changed (or may have): what is derived from all */
	memset(&sc, 0, sizeof(sc));
	userdb_each(srv->db, auth_db_scan_one, &sc);
	auth_db_pick_dummy(srv, &sc);
	explicit_bzero(sc.hashed, sizeof(sc.hashed));
	log_info("users from %s: %zu listed", userdb_describe(srv->db),
		 sc.users);
	if (sc.unknown > 0)
		log_warn("%zu users have an unknown password scheme and "
			 "cannot log in (first: %s)", sc.unknown,
			 sc.first_unknown);
	if (srv->sasl != NULL)
		sasl_server_check_db(srv->sasl, srv->db);
}
