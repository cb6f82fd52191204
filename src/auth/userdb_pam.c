/* userdb_pam.c: the PAM driver (userdb_private.h), `users = pam[:SERVICE]`
 * (SERVICE: the file in /etc/pam.d, or in pam_confdir; "satchel" by
 * default): the system's users.
 *
 * A user is the system's account of that name (getpwnam, through NSS)
 * whose uid is first_valid_uid or more (never root); its record holds
 * "{PAM}SERVICE" as its secret, its uid, gid and home, and no mail
 * field, so `mail = maildir:~/Maildir` names the maildrop in its home.
 * The password is checked by PAM (pam_authenticate, then pam_acct_mgmt:
 * an expired or locked account is refused) in a helper process of the
 * pool (pampool.h), never in the auth process: auth_verify.c hands
 * "{PAM}" secrets to userdb_verify_submit(). There is no stored secret,
 * so only the mechanisms that send the password serve these users
 * (plaintext_only).
 *
 * Lookups go to the same helpers (NSS may block too) and are cached like
 * a remote database's (userdb_remote.h). The failure delay PAM asks for
 * comes back with the answer and is waited for here, on a timer, before
 * the failed check is handed back: the helper is free meanwhile, and
 * the loop never sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/pam_helper.h"
#include "auth/pampool.h"
#include "auth/sysspawn.h"
#include "auth/userdb_private.h"
#include "auth/userdb_remote.h"
#include "store/mailpath.h"
#include "util/log.h"

#define PAM_DEFAULT_SERVICE "satchel"
/* useradd refuses names starting with '-': no account has it */
#define PAM_INVALID_USER "-satchel-no-user-"

/* A password check under way or waiting out its delay. */
struct pam_check {
	struct pampool_req req;        /* first: the pool's done gets it */
	struct userdb_pam *s;
	struct pam_check *next;        /* delayed or finished */
	void *cookie;                  /* the caller's */
	uint64_t due_ms;
	enum userdb_verdict verdict;
};

struct userdb_pam {
	char service[PAM_SERVICE_MAX];
	char confdir[PAM_CONFDIR_MAX];
	unsigned first_valid_uid;
	struct pampool_settings pool_set;
	struct pampool *pool;          /* asynchronous mode only */
	struct remote_db remote;       /* cache and lookups */
	struct pam_check *delayed;     /* failed, waiting out the delay */
	struct pam_check *finished, **finished_tail;
	bool async;
};

static int userdb_pam_spec_check(const char *path, const char **error_r)
{
	if (strlen(path) >= PAM_SERVICE_MAX || strchr(path, '/') != NULL ||
	    strcmp(path, ".") == 0 || strcmp(path, "..") == 0) {
		*error_r = "pam:SERVICE: a file name of at most 63 octets";
		return -1;
	}
	return 0;
}

static void userdb_pam_close(void *state)
{
	struct userdb_pam *s = state;
	struct pam_check *c;

	pampool_destroy(&s->pool); /* before the lookups it points to */
	while ((c = s->delayed) != NULL) {
		s->delayed = c->next;
		free(c);
	}
	while ((c = s->finished) != NULL) {
		s->finished = c->next;
		free(c);
	}
	remote_db_deinit(&s->remote);
	free(s);
}

static int userdb_pam_open(const char *path, const struct auth_settings *set,
			   void **state_r, const char **error_r)
{
	struct userdb_pam *s;

	if (userdb_pam_spec_check(path, error_r) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	snprintf(s->service, sizeof(s->service), "%s",
		 path[0] != '\0' ? path : PAM_DEFAULT_SERVICE);
	if (strlen(set->pam_confdir) >= sizeof(s->confdir)) {
		*error_r = "pam_confdir too long";
		free(s);
		return -1;
	}
	strcpy(s->confdir, set->pam_confdir);
	s->first_valid_uid = set->first_valid_uid;
	s->pool_set.spawner_fd = -1;
	s->pool_set.helpers = set->pam_helpers;
	s->pool_set.max_requests = set->pam_helper_requests;
	s->pool_set.timeout_ms = set->pam_timeout;
	s->finished_tail = &s->finished;
	if (remote_db_init(&s->remote, "pam", set, error_r) < 0) {
		free(s);
		return -1;
	}
	*state_r = s;
	return 0;
}

static void userdb_pam_set_async(void *state, bool async)
{
	struct userdb_pam *s = state;

	s->async = async;
	if (!async || s->pool != NULL)
		return;
	s->pool_set.spawner_fd = sysspawn_socket();
	if (s->pool_set.spawner_fd < 0)
		log_error("pam: no spawner for PAM helpers: PAM logins fail "
			  "temporarily");
	s->pool = pampool_create(&s->pool_set);
	if (s->pool == NULL)
		log_error("pam: out of memory for the helper pool");
	else
		pampool_process(s->pool, remote_now_ms()); /* spawn now */
}

static bool userdb_pam_check(void *state, bool force)
{
	struct userdb_pam *s = state;

	remote_db_check(&s->remote, force);
	return false;
}

/* A lookup's answer (from a helper, or made here in blocking mode). */
static void userdb_pam_answer(struct userdb_pam *s, struct remote_lookup *l,
			      const struct pam_answer *ans)
{
	char num[24], password[PAM_SERVICE_MAX + 8];

	if (ans->verdict == PAM_VERDICT_UNAVAILABLE) {
		remote_lookup_failed(&s->remote, l, ans->why);
		return;
	}
	l->found = ans->verdict == PAM_VERDICT_FOUND;
	/* mail is never served as root, nor as a system account */
	if (l->found && (ans->uid <= 0 || ans->gid < 0 ||
			 (uint64_t)ans->uid < s->first_valid_uid)) {
		char user_log[PASSWD_USER_MAX + 1];

		log_sanitize(l->user, strlen(l->user), user_log,
			     sizeof(user_log));
		log_info("pam: %s has uid %lld, below first_valid_uid %u: "
			 "not a mail user", user_log, (long long)ans->uid,
			 s->first_valid_uid);
		l->found = false;
	}
	if (l->found) {
		snprintf(password, sizeof(password), "{PAM}%s", s->service);
		sqlrow_column(&l->line, "user", l->user, strlen(l->user));
		sqlrow_column(&l->line, "password", password,
			      strlen(password));
		snprintf(num, sizeof(num), "%lld", (long long)ans->uid);
		sqlrow_column(&l->line, "uid", num, strlen(num));
		snprintf(num, sizeof(num), "%lld", (long long)ans->gid);
		sqlrow_column(&l->line, "gid", num, strlen(num));
		sqlrow_column(&l->line, "home", ans->home, strlen(ans->home));
	}
	remote_lookup_finish(&s->remote, l, remote_now_ms());
}

static void userdb_pam_lookup_done(struct pampool_req *req,
				   const struct pam_answer *ans)
{
	struct userdb_pam *s = req->context;
	struct remote_lookup *l = *(struct remote_lookup **)(req + 1);

	free(req);
	userdb_pam_answer(s, l, ans);
}

/* Sends lookup l to the pool, or answers it here (blocking mode). */
static void userdb_pam_ask(struct userdb_pam *s, struct remote_lookup *l)
{
	struct pampool_req *req;

	l->sent = true;
	if (!s->async) {
		struct pam_answer ans;

		memset(&ans, 0, sizeof(ans));
		pam_helper_lookup(l->user, &ans);
		userdb_pam_answer(s, l, &ans);
		return;
	}
	/* the request, then the lookup it answers */
	req = calloc(1, sizeof(*req) + sizeof(l));
	if (req == NULL) {
		remote_lookup_failed(&s->remote, l, "out of memory");
		return;
	}
	memcpy(req + 1, &l, sizeof(l));
	req->msg.kind = PAM_MSG_LOOKUP;
	snprintf(req->msg.service, sizeof(req->msg.service), "%s",
		 s->service);
	snprintf(req->msg.user, sizeof(req->msg.user), "%s", l->user);
	req->done = userdb_pam_lookup_done;
	req->context = s;
	pampool_submit(s->pool, req, remote_now_ms());
}

static enum userdb_status userdb_pam_get(void *state, const char *user,
					 bool cached_only,
					 const struct passwd_entry **entry_r)
{
	struct userdb_pam *s = state;
	struct remote_lookup *l;
	enum userdb_status st;
	bool available = !s->async || s->pool != NULL;

	st = remote_db_get(&s->remote, user, cached_only, available, entry_r,
			   &l);
	if (l == NULL)
		return st;
	userdb_pam_ask(s, l);
	if (s->async)
		return st;
	/* blocking mode: answered just now, by the rules of a finished
	 * lookup */
	st = remote_db_get(&s->remote, user, cached_only, true, entry_r, &l);
	remote_db_round(&s->remote);
	return st;
}

static void userdb_pam_finish(struct userdb_pam *s, struct pam_check *c)
{
	c->next = NULL;
	*s->finished_tail = c;
	s->finished_tail = &c->next;
}

static void userdb_pam_check_done(struct pampool_req *req,
				  const struct pam_answer *ans)
{
	struct pam_check *c = (struct pam_check *)req;
	struct userdb_pam *s = c->s;
	char user_log[PASSWD_USER_MAX + 1];

	log_sanitize(req->msg.user, strlen(req->msg.user), user_log,
		     sizeof(user_log));
	switch (ans->verdict) {
	case PAM_VERDICT_MATCH:
		c->verdict = USERDB_VERDICT_MATCH;
		break;
	case PAM_VERDICT_REFUSED:
		c->verdict = USERDB_VERDICT_MISMATCH;
		log_info("pam: %s refused by pam_acct_mgmt: %s", user_log,
			 ans->why);
		break;
	case PAM_VERDICT_UNAVAILABLE:
		c->verdict = USERDB_VERDICT_UNAVAILABLE;
		log_warn("pam: checking %s: %s", user_log, ans->why);
		break;
	default:
		c->verdict = USERDB_VERDICT_MISMATCH;
		log_debug("pam: %s: %s", user_log, ans->why);
		break;
	}
	if (c->verdict == USERDB_VERDICT_MATCH || ans->delay_ms == 0) {
		userdb_pam_finish(s, c);
		return;
	}
	/* PAM's failure delay, on the loop's timer (see the top) */
	c->due_ms = remote_now_ms() + ans->delay_ms;
	c->next = s->delayed;
	s->delayed = c;
}

static int userdb_pam_verify_submit(void *state, const char *stored,
				    const struct userdb_verify *v)
{
	struct userdb_pam *s = state;
	const char *user = v->user;
	struct pam_check *c;

	/* a name no record could have (the client's, when it is no
	 * login name) never reaches PAM's modules: a name no account can
	 * have is checked instead, which costs the same */
	if (!mailpath_user_valid(user))
		user = PAM_INVALID_USER;
	if (strncmp(stored, "{PAM}", 5) != 0 || s->pool == NULL ||
	    strlen(stored + 5) >= sizeof(c->req.msg.service) ||
	    strlen(user) >= sizeof(c->req.msg.user) ||
	    strlen(v->password) >= sizeof(c->req.msg.password))
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->s = s;
	c->cookie = v->cookie;
	c->req.msg.kind = PAM_MSG_CHECK;
	strcpy(c->req.msg.service, stored + 5);
	strcpy(c->req.msg.confdir, s->confdir);
	strcpy(c->req.msg.user, user);
	snprintf(c->req.msg.rhost, sizeof(c->req.msg.rhost), "%s", v->rhost);
	strcpy(c->req.msg.password, v->password);
	c->req.done = userdb_pam_check_done;
	c->req.context = s;
	pampool_submit(s->pool, &c->req, remote_now_ms());
	return 0;
}

static bool userdb_pam_verify_take(void *state, void **cookie_r,
				   enum userdb_verdict *verdict_r)
{
	struct userdb_pam *s = state;
	struct pam_check *c = s->finished;

	if (c == NULL)
		return false;
	s->finished = c->next;
	if (s->finished == NULL)
		s->finished_tail = &s->finished;
	*cookie_r = c->cookie;
	*verdict_r = c->verdict;
	free(c);
	return true;
}

static size_t userdb_pam_poll_fds(void *state, struct pollfd *fds,
				  size_t max, int *timeout_ms)
{
	struct userdb_pam *s = state;
	uint64_t now = remote_now_ms();
	const struct pam_check *c;

	for (c = s->delayed; c != NULL; c = c->next) {
		int ms = c->due_ms > now ? (int)(c->due_ms - now) : 0;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = ms;
	}
	if (s->finished != NULL)
		*timeout_ms = 0;
	return s->pool != NULL ?
	       pampool_poll_fds(s->pool, fds, max, now, timeout_ms) : 0;
}

static bool userdb_pam_process(void *state)
{
	struct userdb_pam *s = state;
	uint64_t now = remote_now_ms();
	struct pam_check **p = &s->delayed;

	remote_db_round(&s->remote);
	if (s->pool != NULL)
		pampool_process(s->pool, now);
	while (*p != NULL) {
		struct pam_check *c = *p;

		if (c->due_ms > now) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		userdb_pam_finish(s, c);
	}
	return s->remote.completed;
}

static void userdb_pam_flush(void *state, const char *user)
{
	struct userdb_pam *s = state;

	remote_db_flush(&s->remote, user);
}

/* The system's accounts are not listed (most are no mail users). */
static void userdb_pam_each(void *state, userdb_each_fn *fn, void *context)
{
	(void)state;
	(void)fn;
	(void)context;
}

static bool userdb_pam_plaintext_only(void *state)
{
	(void)state;
	return true;
}

static const char *userdb_pam_dummy(void *state)
{
	const struct userdb_pam *s = state;
	static char dummy[PAM_SERVICE_MAX + 8];

	snprintf(dummy, sizeof(dummy), "{PAM}%s", s->service);
	return dummy;
}

const struct userdb_driver userdb_pam_driver = {
	.name = "pam",
	.path_optional = true,
	.spec_check = userdb_pam_spec_check,
	.open = userdb_pam_open,
	.check = userdb_pam_check,
	.get = userdb_pam_get,
	.each = userdb_pam_each,
	.close = userdb_pam_close,
	.set_async = userdb_pam_set_async,
	.poll_fds = userdb_pam_poll_fds,
	.process = userdb_pam_process,
	.flush = userdb_pam_flush,
	.plaintext_only = userdb_pam_plaintext_only,
	.verify_submit = userdb_pam_verify_submit,
	.verify_take = userdb_pam_verify_take,
	.dummy = userdb_pam_dummy,
};
