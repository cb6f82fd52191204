/* auth_process.c: the auth process (see auth_process.h): its loop over
 * the control socket, the worker sockets and the hash pool, its signals,
 * and its start and end. The rest is in the files auth_server.h lists. */
#include "auth/auth_process.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_server.h"
#include "auth/sasl_mech.h"
#include "net/fdpass.h"
#include "util/log.h"

static volatile sig_atomic_t auth_hup_flag, auth_term_flag;

static void auth_signal(int signo)
{
	if (signo == SIGHUP)
		auth_hup_flag = 1;
	else
		auth_term_flag = 1;
}

/* Tells a new worker which mechanisms that need files this process can
 * serve, so its CAPA does not offer one the auth process cannot run (the
 * workers run as another user and cannot check the files themselves). */
static void auth_send_hello(struct auth_server *srv, uint32_t slot)
{
	struct auth_reply reply;
	uint32_t mask = 0;

	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_get(i);

		if (m == NULL || !sasl_mech_configured(m, srv->set, true))
			continue;
		/* users whose passwords only a bind can check: only the
		 * mechanisms that send a password, or need none of ours */
		if (userdb_plaintext_only(srv->db) &&
		    !(m->flags & (SASL_MECH_PLAINTEXT | SASL_MECH_NEEDS_KEYTAB |
				  SASL_MECH_CLIENT_CERT)))
			continue;
		mask |= 1u << i;
	}
	memset(&reply, 0, AUTH_REPLY_HDR);
	reply.result = AUTH_HELLO;
	reply.data_len = sizeof(mask);
	memcpy(reply.data, &mask, sizeof(mask));
	auth_slot_send(srv, slot, &reply);
}

/* Returns 1 on EOF, 0 when handled, -1 on a fatal error. */
static int auth_control_read(struct auth_server *srv, int control_fd)
{
	struct auth_control ctl;
	ssize_t n;
	int fd, type = 0;
	socklen_t len = sizeof(type);

	n = fdpass_recv(control_fd, &ctl, sizeof(ctl), &fd);
	if (n == 0)
		return 1;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_error("control socket: %s", strerror(errno));
		return -1;
	}
	if (n != (ssize_t)sizeof(ctl) || ctl.slot >= AUTH_SLOTS_MAX ||
	    (ctl.kind != AUTH_SLOT_POP3 && ctl.kind != AUTH_SLOT_LMTP)) {
		log_warn("control socket: bad message (%zd octets)", n);
		goto out_close;
	}
	auth_slot_close(srv, ctl.slot);
	if (fd < 0)
		return 0; /* no descriptor: the slot just goes away */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		log_warn("worker slot %u: not a SOCK_SEQPACKET socket",
			 ctl.slot);
		goto out_close;
	}
	srv->slot_fd[ctl.slot] = fd;
	srv->slot_kind[ctl.slot] = (uint8_t)ctl.kind;
	auth_send_hello(srv, ctl.slot);
	log_debug("worker slot %u connected", ctl.slot);
	return 0;

out_close:
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- the loop ---- */

static int auth_signals_setup(sigset_t *wait_mask_r, sigset_t *old_mask_r)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = auth_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the signal must end the wait */
	if (sigaction(SIGHUP, &sa, NULL) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0)
		return -1;
	/* Ctrl-C reaches the whole foreground group: the master stops the
	 * workers first and lets the auth process go after them (EOF on
	 * the control socket), so their last logouts still arrive. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	/* blocked except inside ppoll(), so a signal arriving just before
	 * the wait is not missed until the next request */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, old_mask_r) < 0)
		return -1;
	*wait_mask_r = *old_mask_r;
	sigdelset(wait_mask_r, SIGHUP);
	sigdelset(wait_mask_r, SIGTERM);
	sigdelset(wait_mask_r, SIGINT);
	return 0;
}

static int auth_loop(struct auth_server *srv, int control_fd,
		     const sigset_t *wait_mask)
{
	struct pollfd fds[AUTH_SLOTS_MAX + 3 + USERDB_POLL_MAX];
	uint32_t slots[AUTH_SLOTS_MAX + 2];

	for (;;) {
		struct timespec wait;
		nfds_t nfds, i, nslots, agent_i;
		int n, ret, timeout = 1000;
		uint32_t s;

		fds[0].fd = control_fd;
		fds[0].events = POLLIN;
		fds[1].fd = srv->pool != NULL ? hashpool_fd(srv->pool) : -1;
		fds[1].events = POLLIN;
		nfds = 2;
		for (s = 0; s < AUTH_SLOTS_MAX; s++) {
			if (srv->slot_fd[s] < 0)
				continue;
			fds[nfds].fd = srv->slot_fd[s];
			fds[nfds].events = srv->pending[s] ? POLLOUT : POLLIN;
			slots[nfds++] = s;
		}
		nslots = nfds;
		/* the databases' sockets and timers (userdb.h); at least
		 * once a second for satchel auth flush and the state file */
		nfds += userdb_poll_fds(srv->db, fds + nfds, USERDB_POLL_MAX,
					&timeout);
		/* the agent spawner's answers (auth_agent.c) */
		agent_i = nfds;
		fds[nfds].fd = auth_agent_fd();
		fds[nfds++].events = POLLIN;
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		wait.tv_sec = timeout / 1000;
		wait.tv_nsec = (long)(timeout % 1000) * 1000000L;
		n = ppoll(fds, nfds, &wait, wait_mask);
		if (n < 0 && errno != EINTR) {
			log_error("ppoll: %s", strerror(errno));
			return EX_OSERR;
		}
		if (auth_term_flag)
			return EX_OK;
		if (auth_hup_flag) {
			auth_hup_flag = 0;
			auth_db_check(srv, true);
		}
		/* lookups that finished: the requests that waited for them
		 * run first, before newer ones of the same users */
		if (userdb_process(srv->db) || srv->park_blocked)
			auth_park_replay(srv);
		for (i = 2; n > 0 && i < nslots; i++) {
			s = slots[i];
			if (fds[i].revents == 0 || srv->slot_fd[s] != fds[i].fd)
				continue;
			if (srv->pending[s] && (fds[i].revents & POLLOUT))
				auth_slot_flush(srv, s);
			if (srv->slot_fd[s] >= 0 && !srv->pending[s])
				auth_slot_read(srv, s);
		}
		auth_verify_collect(srv);
		if (n > 0 && fds[agent_i].fd >= 0 && fds[agent_i].revents != 0)
			auth_agent_read(srv);
		else
			auth_agent_flush(srv);
		/* after the workers: a new socket for a slot must not be
		 * confused with the old one the poll results talk about */
		if (n > 0 && fds[0].revents != 0) {
			ret = auth_control_read(srv, control_fd);
			if (ret > 0)
				return EX_OK;
			if (ret < 0)
				return EX_OSERR;
		}
		auth_db_flush_poll(srv);
		auth_state_maybe_save(srv, false);
	}
}

int auth_process_run(const struct auth_settings *set, int control_fd)
{
	struct auth_server *srv;
	sigset_t wait_mask, old_mask;
	uint32_t s;
	int ret;

	log_set_role("auth");
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		log_error("out of memory");
		return EX_OSERR;
	}
	srv->set = set;
	for (s = 0; s < AUTH_SLOTS_MAX; s++) {
		srv->slot_fd[s] = -1;
		srv->pending_fd[s] = -1;
	}
	srv->rx = malloc(auth_rx_size());
	if (srv->rx == NULL) {
		log_error("out of memory");
		free(srv);
		return EX_OSERR;
	}
	if (sasl_server_create(set, &srv->sasl) < 0)
		log_error("SASL unavailable: GNU SASL did not initialise");
	if (auth_signals_setup(&wait_mask, &old_mask) < 0) {
		log_error("signals: %s", strerror(errno));
		sasl_server_destroy(&srv->sasl);
		free(srv->rx);
		free(srv);
		return EX_OSERR;
	}
	/* created with the signals blocked, so they reach this thread */
	{
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		srv->pool = hashpool_create(cores > 0 ? (unsigned)cores : 1);
		if (srv->pool == NULL)
			log_warn("password hashing threads unavailable (%s); "
				 "verifying on the loop", strerror(errno));
	}
	/* without users every login gets AUTH_TEMPFAIL until the file
	 * can be loaded */
	(void)auth_db_open(srv);
	auth_users_load_state(&srv->users, set->state_dir);
	if (set->proxy_ticket_key[0] != '\0') {
		const char *error;

		/* checked at config time: only a change since then fails;
		 * logins that need a ticket then fail, others go on */
		if (proxyticket_key_load(set->proxy_ticket_key,
					 &srv->ticket_key, &error) < 0)
			log_error("%s", error);
	}

	ret = auth_loop(srv, control_fd, &wait_mask);

	auth_state_maybe_save(srv, true);
	for (s = 0; s < AUTH_SLOTS_MAX; s++) {
		if (srv->slot_fd[s] >= 0)
			close(srv->slot_fd[s]);
	}
	hashpool_destroy(&srv->pool);
	auth_verify_deinit(srv);
	auth_park_deinit(srv);
	auth_agent_deinit();
	auth_users_free(&srv->users);
	sasl_server_destroy(&srv->sasl);
	userdb_close(&srv->db);
	explicit_bzero(srv->rx, auth_rx_size());
	free(srv->rx);
	explicit_bzero(srv->pending_reply, sizeof(srv->pending_reply));
	explicit_bzero(&srv->ticket_key, sizeof(srv->ticket_key));
	free(srv);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}
