/* supervise_bind.c: what a generation is started with (see supervise.h):
 * its config and its bound listeners, the POP3 ones and the LMTP ones
 * (TCP and unix:PATH sockets with their mode and owner), kept across a
 * reload where the address stays. */
#include "serve/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int supervise_load_config(struct master *m, struct config *cfg, char *err,
			  size_t errsize)
{
	return config_load(cfg, m->config_path, m->config_given,
			   m->overrides, m->noverrides, err, errsize);
}

int supervise_check_config(const struct master *m, const struct config *cfg,
			   char *err, size_t errsize)
{
	char item[CONFIG_STR_MAX];

	if (cfg->lmtp_listen[0] != '\0' && m->lmtp_run == NULL) {
		snprintf(err, errsize, "lmtp_listen is set, but this satchel "
			 "has no LMTP worker built in");
		return -1;
	}
	/* issue 8, 6.: a remote LMTP port is served with STARTTLS (RFC
	 * 3207) and AUTH (RFC 4954); without a certificate it would be
	 * open to anyone who reaches it, so that needs saying twice */
	if (cfg->tls.cert[0] == '\0' && !cfg->lmtp_allow_insecure_remote &&
	    config_lmtp_remote(cfg, item, sizeof(item))) {
		snprintf(err, errsize, "lmtp_listen: %.128s is not a loopback "
			 "address: LMTP from other hosts needs tls_cert and "
			 "tls_key (STARTTLS, then AUTH), or "
			 "lmtp_allow_insecure_remote = yes", item);
		return -1;
	}
	return 0;
}

void supervise_close_listeners(struct generation *g)
{
	listener_close_all(g->listeners, g->nlisteners);
	listener_close_all(g->lmtp_listeners, g->nlmtp_listeners);
}

/* Copies n listeners with their own descriptors. 0, or -1 with err
 * (nothing left open). */
static int listeners_dup(const struct listener *from, size_t n,
			 struct listener *to, char *err, size_t errsize)
{
	for (size_t i = 0; i < n; i++) {
		to[i] = from[i];
		to[i].fd = fcntl(from[i].fd, F_DUPFD_CLOEXEC, 0);
		if (to[i].fd < 0) {
			snprintf(err, errsize, "dup of listener %s: %s",
				 from[i].name, strerror(errno));
			listener_close_all(to, i);
			return -1;
		}
	}
	return 0;
}

/* lmtp_socket_mode, _owner and _group as numbers. An empty owner is
 * mail_user, an empty group the owner's primary group; without root
 * (tests, a private instance) an empty owner leaves the socket ours. */
static int lmtp_unix_settings(const struct config *cfg,
			      struct listener_unix_settings *us, char *err,
			      size_t errsize)
{
	const char *owner = cfg->lmtp_socket_owner;
	struct passwd *pw;
	struct group *gr;

	us->mode = (mode_t)strtoul(cfg->lmtp_socket_mode, NULL, 8);
	us->uid = (uid_t)-1;
	us->gid = (gid_t)-1;
	if (owner[0] == '\0' && geteuid() == 0)
		owner = cfg->mail_user;
	if (owner[0] != '\0') {
		pw = getpwnam(owner);
		if (pw == NULL) {
			snprintf(err, errsize, "lmtp_socket_owner: no user "
				 "'%.64s'", owner);
			return -1;
		}
		us->uid = pw->pw_uid;
		us->gid = pw->pw_gid;
	}
	if (cfg->lmtp_socket_group[0] != '\0') {
		gr = getgrnam(cfg->lmtp_socket_group);
		if (gr == NULL) {
			snprintf(err, errsize, "lmtp_socket_group: no group "
				 "'%.64s'", cfg->lmtp_socket_group);
			return -1;
		}
		us->gid = gr->gr_gid;
	}
	return 0;
}

static const struct listener *
listener_find(const struct generation *g, const char *name)
{
	for (size_t i = 0; g != NULL && i < g->nlmtp_listeners; i++) {
		if (g->lmtp_listeners[i].fd >= 0 &&
		    strcmp(g->lmtp_listeners[i].name, name) == 0)
			return &g->lmtp_listeners[i];
	}
	return NULL;
}

/* One lmtp_listen item at a time: reused from old, taken from
 * inherited, or bound. */
static int bind_lmtp(const struct config *cfg, struct generation *g,
		     const struct generation *old, struct sdlisten *inherited,
		     char *err, size_t errsize)
{
	struct listener_unix_settings us;
	char copy[CONFIG_STR_MAX];
	char *save = NULL, *item;

	g->nlmtp_listeners = 0;
	if (cfg->lmtp_listen[0] == '\0')
		return 0;
	if (lmtp_unix_settings(cfg, &us, err, errsize) < 0)
		return -1;
	snprintf(copy, sizeof(copy), "%s", cfg->lmtp_listen);
	for (item = strtok_r(copy, ", ", &save); item != NULL;
	     item = strtok_r(NULL, ", ", &save)) {
		const struct listener *have = listener_find(old, item);
		struct listener *to = &g->lmtp_listeners[g->nlmtp_listeners];
		size_t bound = 0;

		if (g->nlmtp_listeners >= LISTENER_LMTP_MAX) {
			snprintf(err, errsize, "more than %d lmtp_listen "
				 "addresses", LISTENER_LMTP_MAX);
			return -1;
		}
		if (have != NULL) {
			if (listeners_dup(have, 1, to, err, errsize) < 0)
				return -1;
		} else {
			const struct listener_bind_req req = {
				.list = item, .unix_set = &us,
				.inherited = inherited,
			};

			if (listener_bind_req(&req, to, 1, &bound, err,
					      errsize) < 0)
				return -1;
		}
		g->nlmtp_listeners++;
	}
	return 0;
}

/* The POP3 listeners: old's when the addresses are the same (a reload:
 * connections wait in the same listen queues meanwhile), else bound. */
static int bind_pop3(const struct config *cfg, struct generation *g,
		     const struct generation *old, struct sdlisten *inherited,
		     char *err, size_t errsize)
{
	const struct listener_bind_req plain = {
		.list = cfg->listen, .inherited = inherited,
	};
	const struct listener_bind_req tls = {
		.list = cfg->listen_tls, .tls = true, .inherited = inherited,
	};

	const struct listener_bind_req kpop = {
		.list = cfg->kpop_listen, .inherited = inherited,
	};
	size_t first_kpop;

	if (old != NULL && strcmp(cfg->listen, old->cfg->listen) == 0 &&
	    strcmp(cfg->listen_tls, old->cfg->listen_tls) == 0 &&
	    strcmp(cfg->kpop_listen, old->cfg->kpop_listen) == 0) {
		if (listeners_dup(old->listeners, old->nlisteners,
				  g->listeners, err, errsize) < 0)
			return -1;
		g->nlisteners = old->nlisteners;
		return 0;
	}
	if (listener_bind_req(&plain, g->listeners, LISTENER_MAX,
			      &g->nlisteners, err, errsize) < 0 ||
	    listener_bind_req(&tls, g->listeners, LISTENER_MAX,
			      &g->nlisteners, err, errsize) < 0)
		return -1;
	first_kpop = g->nlisteners;
	if (listener_bind_req(&kpop, g->listeners, LISTENER_MAX,
			      &g->nlisteners, err, errsize) < 0)
		return -1;
	for (size_t i = first_kpop; i < g->nlisteners; i++)
		g->listeners[i].kpop = true;
	return 0;
}

static int bind_all(const struct config *cfg, struct generation *g,
		    const struct generation *old, struct sdlisten *inherited,
		    char *err, size_t errsize)
{
	g->nlisteners = 0;
	g->nlmtp_listeners = 0;
	if (bind_pop3(cfg, g, old, inherited, err, errsize) < 0 ||
	    bind_lmtp(cfg, g, old, inherited, err, errsize) < 0) {
		supervise_close_listeners(g);
		return -1;
	}
	return 0;
}

int supervise_bind(const struct config *cfg, struct generation *g,
		   const struct generation *old, char *err, size_t errsize)
{
	return bind_all(cfg, g, old, NULL, err, errsize);
}

int supervise_bind_first(struct master *m, const struct config *cfg,
			 struct generation *g, char *err, size_t errsize)
{
	return bind_all(cfg, g, NULL, &m->inherited, err, errsize);
}
