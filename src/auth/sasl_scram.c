/* sasl_scram.c: SCRAM-SHA-1/-256 and their -PLUS forms (RFC 5802, RFC
 * 7677) in the auth process: finds the user's salt, count and keys for
 * scram_server.c, hands every key derivation to the hash pool, and keeps
 * the key behind the fake salts of users without a SCRAM secret. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/password.h"
#include "auth/sasl_exchange.h"
#include "util/fileio.h"
#include "util/log.h"

#define SASL_SCRAM_KEY_FILE "scram-salt-key"
#define SASL_SCRAM_FAKE_SALT_LEN 16

static enum scram_hash sasl_scram_hash(const struct sasl_exchange *ex)
{
	return strncmp(ex->mech->name, "SCRAM-SHA-1", 11) == 0 ?
	       SCRAM_SHA1 : SCRAM_SHA256;
}

/* The {PLAIN} secret of user, or NULL. */
static const char *sasl_scram_plain(const struct sasl_exchange *ex,
				    const char *user)
{
	const struct passwd_entry *e = sasl_lookup(ex, user);
	const char *stored;

	if (e == NULL || (stored = passwd_entry_secret(e, "PLAIN")) == NULL)
		return NULL;
	return password_plain_secret(stored);
}

/* What a SCRAM login of user gets. The user's stored secret for this
 * exchange's hash: returns 1 with all of *secret_r. Else (unknown,
 * {PLAIN}-only, crypt hashes) the iteration count and a salt derived
 * from the name, the same on every attempt and after a restart, like a
 * real one ({PLAIN} users then really authenticate with it): returns 0
 * with iter and salt only. -1 on error. */
static int sasl_scram_lookup(const struct sasl_exchange *ex,
			     const char *user, struct scram_secret *secret_r)
{
	enum scram_hash hash = sasl_scram_hash(ex);
	const struct passwd_entry *e = sasl_lookup(ex, user);
	const char *stored;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (e != NULL &&
	    (stored = passwd_entry_secret(e, scram_scheme_name(hash))) != NULL &&
	    password_scram(stored, hash, secret_r) == 0)
		return 1;
	memset(secret_r, 0, sizeof(*secret_r));
	if (HMAC(EVP_sha256(), ex->ss->fake_key, sizeof(ex->ss->fake_key),
		 (const unsigned char *)user, strlen(user), mac,
		 &mac_len) == NULL || mac_len < SASL_SCRAM_FAKE_SALT_LEN)
		return -1;
	secret_r->hash = hash;
	secret_r->iter = SCRAM_ITER_DEFAULT;
	secret_r->key_len = scram_key_len(hash);
	memcpy(secret_r->salt, mac, SASL_SCRAM_FAKE_SALT_LEN);
	secret_r->salt_len = SASL_SCRAM_FAKE_SALT_LEN;
	return 0;
}

static enum sasl_result sasl_scram_server_first(struct sasl_exchange *ex,
						const struct scram_secret *sc,
						struct sasl_outcome *o)
{
	if (scram_server_first(ex->scram, sc->iter, sc->salt, sc->salt_len,
			       sc->stored_key, sc->server_key, o->out,
			       o->out_size, &o->out_len) < 0) {
		o->out_len = 0;
		o->why = "cannot make the server-first message";
		return SASL_RESULT_TEMPFAIL;
	}
	return SASL_RESULT_CONTINUE;
}

/* The client-first message: the user's stored salt and keys answer at
 * once; for anyone else the keys are derived on the pool (from {PLAIN},
 * or from nothing for users without it, so they cost the same and fail
 * at the proof) and sasl_scram_resume() answers. */
static enum sasl_result sasl_scram_first(struct sasl_exchange *ex,
					 const unsigned char *in,
					 size_t in_len,
					 struct sasl_outcome *o)
{
	struct scram_secret secret;
	const char *plain;
	enum sasl_result res;
	int found;

	ex->scram = malloc(sizeof(*ex->scram));
	if (ex->scram == NULL) {
		o->why = "out of memory";
		return SASL_RESULT_TEMPFAIL;
	}
	scram_server_init(ex->scram, sasl_scram_hash(ex),
			  (ex->mech->flags & SASL_MECH_CHANNEL_BINDING) != 0,
			  ex->cb, SCRAM_SERVER_BINDINGS_MAX);
	if (scram_server_client_first(ex->scram, in, in_len, &o->why) < 0)
		return SASL_RESULT_FAILED;
	found = sasl_scram_lookup(ex, ex->scram->cf.user, &secret);
	if (found < 0) {
		o->why = "crypto error";
		return SASL_RESULT_TEMPFAIL;
	}
	if (found == 1) {
		ex->scram_known = true;
		res = sasl_scram_server_first(ex, &secret, o);
		scram_secret_clear(&secret);
		return res;
	}
	plain = sasl_scram_plain(ex, ex->scram->cf.user);
	ex->scram_known = plain != NULL;
	if (plain != NULL && strlen(plain) >= sizeof(o->pending.password)) {
		ex->scram_known = false;
		plain = NULL;
	}
	o->pending.kind = SASL_PENDING_SCRAM_KEYS;
	o->pending.scram = secret;
	snprintf(o->pending.password, sizeof(o->pending.password), "%s",
		 plain != NULL ? plain : "");
	scram_secret_clear(&secret);
	ex->waiting = true;
	return SASL_RESULT_PENDING;
}

/* The client-final message: proof, binding, then v= as one more
 * challenge (RFC 5034 4.). */
static enum sasl_result sasl_scram_final(struct sasl_exchange *ex,
					 const unsigned char *in,
					 size_t in_len,
					 struct sasl_outcome *o)
{
	enum sasl_result res;

	if (scram_server_client_final(ex->scram, in, in_len, o->out,
				      o->out_size, &o->out_len, &o->why) < 0) {
		o->out_len = 0;
		return SASL_RESULT_FAILED;
	}
	if (!ex->scram_known) {
		o->out_len = 0;
		o->why = "no SCRAM secret for the user";
		return SASL_RESULT_FAILED;
	}
	res = sasl_success(ex, ex->scram->cf.user, ex->scram->cf.authzid, o);
	if (res != SASL_RESULT_SUCCESS) {
		o->out_len = 0;
		return res;
	}
	o->entry = NULL;
	ex->success_sent = true;
	return SASL_RESULT_CONTINUE;
}

enum sasl_result sasl_scram_step(struct sasl_exchange *ex,
				 const unsigned char *in, size_t in_len,
				 struct sasl_outcome *o)
{
	if (ex->scram == NULL) {
		/* RFC 4422 5.: no (or an empty) initial response: ask for
		 * the client-first message */
		if (in == NULL || in_len == 0) {
			o->out_len = 0;
			return SASL_RESULT_CONTINUE;
		}
		return sasl_scram_first(ex, in, in_len, o);
	}
	if (in == NULL) {
		o->why = "no client-final message";
		return SASL_RESULT_FAILED;
	}
	return sasl_scram_final(ex, in, in_len, o);
}

enum sasl_result sasl_scram_resume(struct sasl_exchange *ex,
				   const struct scram_secret *keys,
				   struct sasl_outcome *o)
{
	struct scram_secret secret;
	enum sasl_result res;

	ex->waiting = false;
	if (keys == NULL || ex->scram == NULL) {
		o->why = "crypto error";
		return SASL_RESULT_TEMPFAIL;
	}
	/* salt and count again from the name, not from the job: the
	 * exchange is the authority on what it sends */
	if (sasl_scram_lookup(ex, ex->scram->cf.user, &secret) < 0) {
		o->why = "crypto error";
		return SASL_RESULT_TEMPFAIL;
	}
	memcpy(secret.stored_key, keys->stored_key, sizeof(secret.stored_key));
	memcpy(secret.server_key, keys->server_key, sizeof(secret.server_key));
	res = sasl_scram_server_first(ex, &secret, o);
	scram_secret_clear(&secret);
	return res;
}

/* ---- the fake salt key ---- */

/* Reads exactly sizeof(ss->fake_key) octets from path. 0, or -1 with
 * errno (EINVAL: another size). */
static int sasl_scram_key_read(const char *path, unsigned char *key,
			       size_t size)
{
	unsigned char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	if ((size_t)n != size) {
		explicit_bzero(buf, sizeof(buf));
		errno = EINVAL;
		return -1;
	}
	memcpy(key, buf, size);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

void sasl_scram_key_load(struct sasl_server *ss)
{
	const char *state_dir = ss->cfg->state_dir, *error;
	unsigned char key[sizeof(ss->fake_key)];
	char path[CONFIG_STR_MAX + 32];
	int n;

	if (RAND_bytes(ss->fake_key, sizeof(ss->fake_key)) != 1)
		log_error("RAND_bytes failed for the SCRAM salt key");
	if (state_dir[0] == '\0') {
		log_info("no state_dir: fake SCRAM salts change at restart");
		return;
	}
	n = snprintf(path, sizeof(path), "%s/%s", state_dir,
		     SASL_SCRAM_KEY_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		log_error("state_dir too long for %s", SASL_SCRAM_KEY_FILE);
		return;
	}
	if (sasl_scram_key_read(path, ss->fake_key,
				sizeof(ss->fake_key)) == 0)
		return;
	if (errno != ENOENT) {
		log_error("%s: %s; fake SCRAM salts change at restart", path,
			  errno == EINVAL ? "not a salt key" :
			  strerror(errno));
		return;
	}
	/* made once: the first auth process to start creates it */
	if (fileio_replace(path, ss->fake_key, sizeof(ss->fake_key), 0600,
			   &error) < 0) {
		log_error("%s: %s: %s; fake SCRAM salts change at restart",
			  path, error, strerror(errno));
		return;
	}
	/* should another process have written it at the same moment, use
	 * what is on disk, as every later start will */
	if (sasl_scram_key_read(path, key, sizeof(key)) == 0)
		memcpy(ss->fake_key, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	log_info("made %s", path);
}
