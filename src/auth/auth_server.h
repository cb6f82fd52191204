/* auth_server.h: inside the auth process (auth_*.c): its state and the
 * functions its files share. Everything here runs on the process's one
 * main thread; only password checks and key derivations run on the hash
 * pool's threads, and they see nothing but their job.
 *
 *   auth_process.c  the loop, signals, the control socket, worker hello
 *   auth_slot.c     worker sockets: reading, validating and dispatching
 *                   requests, sending replies (with backpressure)
 *   auth_db.c       the user databases: changes, the unknown-user dummy
 *   auth_verify.c   the one password verification path (all mechanisms)
 *   auth_login.c    a login whose credentials were right: login_delay,
 *                   sessions per user, the reply; APOP; logouts
 *   auth_users.c    per-user state (last login, sessions per slot)
 *   auth_park.c     requests waiting for a user database lookup
 *   auth_agent.c    granted logins waiting for their mail agent */
#ifndef SATCHEL_AUTH_SERVER_H
#define SATCHEL_AUTH_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "auth/auth_limits.h"
#include "auth/auth_process.h"
#include "auth/auth_proto.h"
#include "auth/proxyticket.h"
#include "auth/auth_settings.h"
#include "auth/auth_users.h"
#include "auth/hashpool.h"
#include "auth/passwd.h"
#include "auth/sasl.h"
#include "auth/userdb.h"

#define AUTH_LOG_USER_MAX 128
/* requests waiting for database lookups at most; more get [SYS/TEMP] */
#define AUTH_PARKED_MAX 4096

struct auth_parked;

struct auth_server {
	const struct auth_settings *set;
	struct userdb *db;             /* NULL: none could be opened */

	int slot_fd[AUTH_SLOTS_MAX];
	bool pending[AUTH_SLOTS_MAX];  /* a reply waits for POLLOUT */
	struct auth_reply pending_reply[AUTH_SLOTS_MAX];
	int pending_fd[AUTH_SLOTS_MAX];    /* attached to it, or -1 */
	uint32_t slot_gen[AUTH_SLOTS_MAX]; /* bumped when a slot closes */
	uint8_t slot_kind[AUTH_SLOTS_MAX]; /* enum auth_slot_kind */

	struct sasl_server *sasl;      /* NULL: SASL gets AUTH_TEMPFAIL */
	unsigned char *rx;             /* one received message */

	struct auth_users users;
	bool state_dirty;
	time_t state_saved, state_failed;

	/* password checks and SCRAM key derivations run on threads
	 * (hashpool.h); a finished one whose slot has a reply waiting is
	 * kept in deferred */
	struct hashpool *pool;         /* NULL: run inline */
	struct hashjob *deferred;
	/* a real hash of the loaded file, verified for unknown users so
	 * they cost what a real user costs (same scheme, same rounds) */
	struct proxyticket_key ticket_key; /* len 0: no tickets */
	char dummy_stored[HASHPOOL_STORED_MAX];
	/* the dummy came from no listed user: the first hashed secret a
	 * lookup finds replaces it (databases that list nobody to the auth
	 * process: PostgreSQL) */
	bool dummy_from_lookup;

	/* requests waiting for a lookup (auth_park.c); db_pending: the
	 * request being handled met USERDB_PENDING and did nothing */
	struct auth_parked *parked;
	unsigned n_parked;
	bool db_pending;
	bool park_blocked;             /* one waits for its slot's POLLOUT */
	/* satchel auth flush (auth_db.c): how far state_dir/auth-flush
	 * was read */
	bool flush_started;
	unsigned long long flush_ino;
	long long flush_off;
};

/* auth_db.c: opens the user databases (userdb.h) and loads them; -1
 * (logged) leaves srv->db NULL: every login fails temporarily. */
int auth_db_open(struct auth_server *srv);
/* Notices changed users (userdb_check: a stat, a pragma per call) and,
 * when they changed, picks the dummy again and logs what they are. */
void auth_db_check(struct auth_server *srv, bool force);
/* A user found by a lookup: its secret becomes the dummy when none was
 * known from a listing (see dummy_from_lookup). */
void auth_db_learn_dummy(struct auth_server *srv,
			 const struct passwd_entry *entry);
/* Applies the lines satchel auth flush appended to state_dir/auth-flush
 * since the last call (a stat when nothing came). */
void auth_db_flush_poll(struct auth_server *srv);

/* auth_park.c: a request that met USERDB_PENDING, kept as it came
 * (message) or as the password check it was handed to (verify); false
 * when too many wait (the caller answers AUTH_TEMPFAIL). */
enum auth_park_kind { AUTH_PARK_MESSAGE, AUTH_PARK_VERIFY };
struct auth_verify_req;
bool auth_park_message(struct auth_server *srv, uint32_t slot,
		       const void *msg, size_t len);
bool auth_park_verify(struct auth_server *srv,
		      const struct auth_verify_req *vr);
/* Handles every parked request again (after userdb_process said a
 * lookup finished); those whose slot still has a reply queued stay. */
void auth_park_replay(struct auth_server *srv);
void auth_park_deinit(struct auth_server *srv);

/* auth_agent.c: whether reply (on slot) needs a mail agent; asking the
 * spawner for it (reply goes out with it later, or at once marked
 * AUTH_AGENT_FAILED); the spawner's socket to poll (-1: none); reading
 * its answers; sending the answered ones whose slot is free; freeing the
 * waits at exit. */
bool auth_agent_wanted(const struct auth_server *srv, uint32_t slot,
		       const struct auth_reply *reply);
void auth_agent_request(struct auth_server *srv, uint32_t slot,
			struct auth_reply *reply);
int auth_agent_fd(void);
void auth_agent_read(struct auth_server *srv);
void auth_agent_flush(struct auth_server *srv);
void auth_agent_deinit(void);

/* auth_slot.c */
void auth_slot_close(struct auth_server *srv, uint32_t slot);
/* Sends reply (kept for POLLOUT when the socket is full); a granted
 * login that needs a mail agent waits for it first (auth_agent.c). */
void auth_slot_send(struct auth_server *srv, uint32_t slot,
		    const struct auth_reply *reply);
/* Sends reply with fd attached (-1: none; the caller keeps fd, a copy
 * is kept while the reply waits for POLLOUT). */
void auth_slot_send_fd(struct auth_server *srv, uint32_t slot,
		       const struct auth_reply *reply, int fd);
void auth_slot_flush(struct auth_server *srv, uint32_t slot);
void auth_slot_read(struct auth_server *srv, uint32_t slot);
/* Handles one received message of n octets (msg is modified and may be
 * parked); a reply is sent when due. */
void auth_slot_dispatch(struct auth_server *srv, uint32_t slot, void *msg,
			size_t n);
/* A reply header for request id: no user, -1 for the numbers. */
void auth_reply_init(struct auth_reply *reply, uint64_t id);
/* Turns a SASL step's result into reply (false: none is due). */
bool auth_sasl_reply(struct auth_server *srv, uint32_t slot,
		     const char *client_addr, enum sasl_result res,
		     struct sasl_outcome *o, struct auth_reply *reply);
/* The size of srv->rx. */
size_t auth_rx_size(void);

/* auth_verify.c: the one verification path. A password for user from
 * USER/PASS (mech "") or SASL PLAIN/LOGIN is checked on the pool against
 * the user's password field, or against the dummy when the user is
 * unknown, disabled or unusable (refuse: fails all the same); the reply
 * and the log line come from auth_verify_collect(), the same for every
 * mechanism. */
struct auth_verify_req {
	uint32_t slot;
	uint64_t id;
	const char *user;              /* as the client sent it */
	const char *password;
	const char *mech;              /* "" for USER/PASS */
	const char *client_addr;
	bool refuse;
	bool via_proxy;                /* PASS from a trusted proxy's session */
};
void auth_verify_password(struct auth_server *srv,
			  const struct auth_verify_req *vr);
/* SCRAM keys for exchange (slot, id) on the pool; the exchange goes on
 * in auth_verify_collect(). p is wiped. */
void auth_verify_scram_keys(struct auth_server *srv, uint32_t slot,
			    uint64_t id, const char *client_addr,
			    struct sasl_pending *p);
/* Finishes the jobs that came back (earlier deferred ones first). */
void auth_verify_collect(struct auth_server *srv);
/* Frees the deferred jobs (at exit). */
void auth_verify_deinit(struct auth_server *srv);

/* auth_login.c */
bool auth_plaintext_ok(const struct auth_server *srv, bool secured);
/* PASS (to auth_verify) and APOP; true when the reply is due now. */
bool auth_login(struct auth_server *srv, uint32_t slot,
		const struct auth_request *req, struct auth_reply *reply);
/* The credentials of entry were right: login_delay, sessions per user,
 * the reply. Shared by every mechanism. */
void auth_grant(struct auth_server *srv, uint32_t slot,
		const struct passwd_entry *entry, struct auth_reply *reply,
		const char *user_log, const char *rip);
void auth_logout(struct auth_server *srv, uint32_t slot,
		 const struct auth_request *req);
/* A granted session of req->user reached TRANSACTION: records the login
 * for LOGIN-DELAY and logs it. */
void auth_login_done(struct auth_server *srv, uint32_t slot,
		     const struct auth_request *req);
/* Writes state_dir/last-login when it changed (at most once a second,
 * once a minute after a failure; force: now). */
void auth_state_maybe_save(struct auth_server *srv, bool force);

#endif
