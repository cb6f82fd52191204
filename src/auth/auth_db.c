/* auth_db.c: the user databases of the auth process (userdb.h): opened
 * at start, checked before each request (a changed passwd-file is
 * reloaded, SQLite records read before another's commit are dropped)
 * and on SIGHUP, with the dummy hash unknown users are checked against
 * picked from them (see auth_server.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

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
	auth_db_check(srv, true);
	return 0;
}

void auth_db_check(struct auth_server *srv, bool force)
{
	struct auth_db_scan sc;

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
