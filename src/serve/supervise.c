/* supervise.c: the master's process tree (see supervise.h).
 *
 * Processes come in generations: one auth process and N POP3 workers
 * (and, with lmtp_listen, L LMTP workers) that talk to it. SIGHUP starts
 * a new generation with the new config; the old
 * workers stop accepting and exit when their last session ends, and the
 * old auth process is let go after them, so no session is cut by a
 * reload. A crashed worker is restarted in its slot; a crashed auth
 * process is replaced by a whole new generation. A generation is
 * announced "ready" once every worker, POP3 and LMTP, listens
 * (docs/architecture.md). An LMTP worker is the same kind of child as a
 * POP3 one (a slot, a socketpair to auth, a ready pipe, mail_user); only
 * its entry point, deliver/'s lmtp_worker_run handed down by main.c, and
 * its listeners differ. */
#include "serve/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth_process.h"
#include "auth/sysspawn.h"
#include "config/config_sandbox.h"
#include "net/fdpass.h"
#include "net/ioloop.h"
#include "net/sdnotify.h"
#include "net/tls.h"
#include "serve/connlimit.h"
#include "serve/faildelay.h"
#include "serve/metrics.h"
#include "serve/worker.h"
#include "store/node.h"
#include "util/log.h"
#include "util/sandbox.h"

/* The key descriptors of g that role must not keep: a worker keeps its
 * own generation's end of the connect socket, a key process its own key
 * file and its end of the connect socket, nobody anything else. */
static void close_key_fds(struct generation *g, bool own,
			  enum supervise_child role)
{
	int *keep[2] = { NULL, NULL };
	int *fds[] = { &g->key_file_fd, &g->key_ctl_fd, &g->key_conn[0],
		       &g->key_conn[1] };

	if (own && role == CHILD_WORKER)
		keep[0] = &g->key_conn[1];
	if (own && role == CHILD_KEY) {
		keep[0] = &g->key_file_fd;
		keep[1] = &g->key_conn[0];
	}
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fds[i] != keep[0] && fds[i] != keep[1] && *fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	}
}

void supervise_child_close_inherited(struct master *m,
				     const struct generation *own,
				     enum supervise_child role)
{
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	supervise_metrics_close_in_child(m);
	/* the pid file's lock says the master lives: not a child's */
	if (m->pidfile.fd >= 0)
		close(m->pidfile.fd);
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (!m->gens[i].used)
			continue;
		if (m->gens[i].control_fd >= 0)
			close(m->gens[i].control_fd);
		close_key_fds(&m->gens[i], &m->gens[i] == own, role);
	}
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].ready_fd >= 0)
			close(m->slots[i].ready_fd);
	}
}

void supervise_child_unblock_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* A child ends when the master does. Set after the privilege drop, which
 * clears the parent-death signal; a master already gone by then is
 * caught by the parent pid check. */
void supervise_child_die_with(pid_t master)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 ||
	    getppid() != master)
		_exit(EX_OSERR);
}

/* In the auth process's child, still root: the PAM and agent spawners
 * (auth/sysspawn.h). */
static void supervise_start_spawners(const struct master *m,
				     const struct config *cfg)
{
	/* big (the sandbox paths); the agent spawner keeps it */
	static struct sysspawn_agents agents;
	char err[256];

	if (config_agents(cfg, m->priv.active ? m->priv.uid : geteuid(),
			  m->priv.active ? m->priv.gid : getegid(), &agents,
			  err, sizeof(err)) < 0) {
		log_error("mail agents unavailable: %s", err);
		agents.on = false;
	}
	(void)sysspawn_start(&cfg->auth, &agents);
}

/* In a child, privileges dropped: the sandbox of its kind (or the
 * warning that the admin turned it off). Logged by the first child of
 * each kind only (the parent sets sandbox_logged after the fork). */
void supervise_child_sandbox(const struct master *m, const struct config *cfg,
			     enum sandbox_kind kind)
{
	struct sandbox_settings set;
	char err[512];

	if (config_sandbox(cfg, kind, &set, err, sizeof(err)) < 0 ||
	    sandbox_apply(&set, kind, !m->sandbox_logged[kind], err,
			  sizeof(err)) < 0) {
		log_error("%s: %s", sandbox_kind_name(kind), err);
		_exit(EX_OSERR);
	}
}

static pid_t start_auth(struct master *m, struct generation *g)
{
	int pair[2];
	pid_t pid, master;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	master = getpid();
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		char err[256];

		supervise_child_close_inherited(m, NULL, CHILD_AUTH);
		for (int i = 0; i < MAX_GENERATIONS; i++) {
			if (m->gens[i].used)
				supervise_close_listeners(&m->gens[i]);
		}
		supervise_close_listeners(g);
		close(pair[0]);
		supervise_child_unblock_signals();
		log_set_role("auth");
		(void)prctl(PR_SET_NAME, "satchel-auth", 0, 0, 0);
		/* PAM and the mail agents need root: their spawners fork
		 * before the drop */
		supervise_start_spawners(m, g->cfg);
		if (privdrop_apply(&m->auth_priv, err, sizeof(err)) < 0) {
			log_error("%s", err);
			_exit(EX_OSERR);
		}
		supervise_child_die_with(master);
		supervise_child_sandbox(m, g->cfg, SANDBOX_AUTH);
		_exit(auth_process_run(&g->cfg->auth, pair[1]));
	}
	m->sandbox_logged[SANDBOX_AUTH] = true;
	close(pair[1]);
	g->control_fd = pair[0];
	g->auth_pid = pid;
	log_info("auth process started: pid=%d", (int)pid);
	return pid;
}

/* In the forked child, privileges dropped: the worker's loop. Only its
 * own kind of listeners of its own generation are open. */
static int run_worker(struct master *m, struct generation *g,
		      unsigned slot_index, bool lmtp, int auth_fd,
		      int ready_fd)
{
	if (lmtp) {
		struct lmtp_worker_setup setup = {
			.cfg = g->cfg, .tls = g->tls, .index = slot_index,
			.auth_fd = auth_fd, .ready_fd = ready_fd,
			.listeners = g->lmtp_listeners,
			.nlisteners = g->nlmtp_listeners,
			.deliveries = m->deliveries,
		};

		log_set_role("lmtp");
		(void)prctl(PR_SET_NAME, "satchel-lmtp", 0, 0, 0);
		return m->lmtp_run(&setup);
	}
	struct worker_setup setup = {
		.cfg = g->cfg, .tls = g->tls, .index = slot_index,
		.auth_fd = auth_fd, .ready_fd = ready_fd,
		.listeners = g->listeners, .nlisteners = g->nlisteners,
		.connlimit = m->connlimit, .faildelay = m->faildelay,
		.xmitrate = m->xmitrate,
		.proxy_capa = m->proxy_capa,
		.metrics = m->metrics,
	};

	return worker_run(&setup);
}

static const char *worker_kind(bool lmtp)
{
	return lmtp ? "lmtp worker" : "worker";
}

static int start_worker(struct master *m, unsigned slot_index, int gen_index,
			bool lmtp)
{
	struct generation *g = &m->gens[gen_index];
	struct slot *slot = &m->slots[slot_index];
	struct auth_control ctl = {
		.slot = slot_index,
		.kind = lmtp ? AUTH_SLOT_LMTP : AUTH_SLOT_POP3,
	};
	int pair[2], ready[2];
	pid_t pid, master;

	if (pipe2(ready, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("socketpair: %s", strerror(errno));
		goto out_close_ready;
	}
	/* A bigger buffer lets a burst of logins queue instead of failing. */
	int bufsize = 1 << 20;
	(void)setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &bufsize,
			 sizeof(bufsize));
	(void)setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &bufsize,
			 sizeof(bufsize));
	if (fdpass_send(g->control_fd, &ctl, sizeof(ctl), pair[1]) < 0) {
		log_error("passing the worker socket to auth: %s",
			  strerror(errno));
		close(pair[0]);
		close(pair[1]);
		goto out_close_ready;
	}
	close(pair[1]);
	connlimit_reset_row(m->connlimit, slot_index);
	metrics_reset_gauges(m->metrics, slot_index);
	if (slot->ready_fd >= 0)
		close(slot->ready_fd);
	slot->ready_fd = -1;
	master = getpid();
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(pair[0]);
		goto out_close_ready;
	}
	if (pid == 0) {
		char err[256];

		close(ready[0]);
		supervise_child_close_inherited(m, g, CHILD_WORKER);
		/* Only this generation's listeners of this kind stay open. */
		for (int i = 0; i < MAX_GENERATIONS; i++) {
			if (m->gens[i].used && i != gen_index)
				supervise_close_listeners(&m->gens[i]);
		}
		if (lmtp)
			listener_close_all(g->listeners, g->nlisteners);
		else
			listener_close_all(g->lmtp_listeners,
					   g->nlmtp_listeners);
		/* the role the sandbox's line is logged under */
		log_set_role(lmtp ? "lmtp" : "worker");
		if (privdrop_apply(&m->priv, err, sizeof(err)) < 0) {
			log_error("%s", err);
			_exit(EX_OSERR);
		}
		supervise_child_die_with(master);
		supervise_child_sandbox(m, g->cfg,
					lmtp ? SANDBOX_LMTP : SANDBOX_WORKER);
		_exit(run_worker(m, g, slot_index, lmtp, pair[0], ready[1]));
	}
	m->sandbox_logged[lmtp ? SANDBOX_LMTP : SANDBOX_WORKER] = true;
	close(pair[0]);
	close(ready[1]);
	slot->pid = pid;
	slot->gen = gen_index;
	slot->started = time(NULL);
	slot->restart_at = 0;
	slot->ready_fd = ready[0];
	slot->ready = false;
	slot->lmtp = lmtp;
	log_info("%s %u started: pid=%d", worker_kind(lmtp), slot_index,
		 (int)pid);
	return 0;

out_close_ready:
	close(ready[0]);
	close(ready[1]);
	return -1;
}

static unsigned free_slots(const struct master *m)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_SLOTS; i++)
		n += m->slots[i].gen < 0;
	return n;
}

static bool generation_free(const struct master *m)
{
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (!m->gens[i].used)
			return true;
	}
	return false;
}

/* Why a reload of cfg cannot be carried out now, or NULL. Settings that
 * only a restart can change are named, not silently ignored. */
static const char *reload_refusal(const struct master *m,
				  const struct config *cfg,
				  const struct config *old)
{
	bool pop3 = cfg->listen[0] != '\0' || cfg->listen_tls[0] != '\0' ||
		    cfg->kpop_listen[0] != '\0';
	bool lmtp = cfg->lmtp_listen[0] != '\0';

	if (!generation_free(m))
		return "too many older generations are still draining (their "
		       "sessions are open); try again when they end";
	if (free_slots(m) < (pop3 ? cfg->workers : 0) +
			    (lmtp ? cfg->lmtp_workers : 0))
		return "no free worker slots while older generations drain; "
		       "try again when they end";
	if (strcmp(cfg->mail_user, old->mail_user) != 0 ||
	    strcmp(cfg->auth_user, old->auth_user) != 0)
		return "mail_user and auth_user change only with a restart";
	return NULL;
}

static int free_slot(struct master *m)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].gen < 0)
			return i;
	}
	return -1;
}

static void start_workers(struct master *m, int gi, unsigned n, bool lmtp)
{
	for (unsigned i = 0; i < n; i++) {
		int slot = free_slot(m);

		if (slot < 0 || start_worker(m, (unsigned)slot, gi, lmtp) < 0)
			log_error("could not start %s %u of %u",
				  worker_kind(lmtp), i + 1, n);
	}
}

int supervise_start_generation(struct master *m, struct config *cfg,
			       struct generation *bound)
{
	struct generation *g = NULL;
	char err[512];
	int gi;

	for (gi = 0; gi < MAX_GENERATIONS; gi++) {
		if (!m->gens[gi].used) {
			g = &m->gens[gi];
			break;
		}
	}
	if (g == NULL) {
		log_error("too many generations still draining");
		return -1;
	}
	memset(g, 0, sizeof(*g));
	g->used = true;
	g->number = ++m->generations_started;
	g->cfg = cfg;
	g->tls = bound->tls;
	g->control_fd = -1;
	g->key_pid = bound->key_pid;
	g->key_file_fd = bound->key_file_fd;
	g->key_ctl_fd = bound->key_ctl_fd;
	g->key_conn[0] = bound->key_conn[0];
	g->key_conn[1] = bound->key_conn[1];
	g->key_started = bound->key_started;
	memcpy(g->key_id, bound->key_id, sizeof(g->key_id));
	memcpy(g->listeners, bound->listeners,
	       bound->nlisteners * sizeof(*bound->listeners));
	g->nlisteners = bound->nlisteners;
	memcpy(g->lmtp_listeners, bound->lmtp_listeners,
	       bound->nlmtp_listeners * sizeof(*bound->lmtp_listeners));
	g->nlmtp_listeners = bound->nlmtp_listeners;
	/* the first generation's key process: checked before daemonizing,
	 * started now that the master's pid is final */
	if (g->tls != NULL && g->key_pid <= 0 &&
	    supervise_key_start(m, g, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out_fail;
	}
	if (start_auth(m, g) < 0)
		goto out_fail;
	/* each kind of worker only where it has something to listen on */
	g->nworkers = g->nlisteners > 0 ? cfg->workers : 0;
	g->nlmtp = g->nlmtp_listeners > 0 ? cfg->lmtp_workers : 0;
	start_workers(m, gi, g->nworkers, false);
	start_workers(m, gi, g->nlmtp, true);
	return gi;

out_fail:
	/* the key process and descriptors stay bound's, for the caller */
	bound->key_pid = g->key_pid;
	g->used = false;
	return -1;
}

/* The old generation stops accepting; its auth process goes once its
 * workers are all gone (see reap). */
static void drain_generation(struct master *m, int gi)
{
	struct generation *g = &m->gens[gi];

	g->draining = true;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].gen == gi && m->slots[i].pid > 0)
			kill(m->slots[i].pid, SIGUSR1);
	}
	supervise_close_listeners(g);
}

static unsigned generation_workers(struct master *m, int gi)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_SLOTS; i++)
		n += m->slots[i].gen == gi;
	return n;
}

static void retire_if_done(struct master *m, int gi)
{
	struct generation *g = &m->gens[gi];

	if (!g->used || !g->draining || generation_workers(m, gi) > 0)
		return;
	if (g->control_fd >= 0) {
		close(g->control_fd); /* auth exits on EOF */
		g->control_fd = -1;
	}
	supervise_key_stop(g); /* so does the key process */
	if (g->auth_pid <= 0 && g->key_pid <= 0) {
		free(g->cfg);
		tls_ctx_destroy(&g->tls);
		supervise_key_close(g);
		g->used = false;
	}
}

static void log_exit(const char *what, pid_t pid, int status)
{
	/* what the seccomp filter does to a call outside its list */
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		log_error("%s pid=%d killed by signal %d (SIGSYS: a system "
			  "call outside its seccomp filter, see "
			  "sandbox_seccomp)", what, (int)pid, SIGSYS);
	else if (WIFSIGNALED(status))
		log_error("%s pid=%d killed by signal %d", what, (int)pid,
			  WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_error("%s pid=%d exited with status %d", what, (int)pid,
			  WEXITSTATUS(status));
	else
		log_info("%s pid=%d exited", what, (int)pid);
}

/* A new generation with cfg (owned by it on success): its TLS context
 * made, its listeners bound or taken over from old. The generation
 * index, or -1 with the reason logged after what (cfg is still the
 * caller's then). */
static int start_new_generation(struct master *m, struct config *cfg,
				const struct generation *old, const char *what)
{
	struct generation *bound = calloc(1, sizeof(*bound));
	char err[512];
	int gi = -1;

	if (bound == NULL) {
		log_error("%s: out of memory", what);
		return -1;
	}
	if (supervise_key_prepare(m, cfg, bound, true, err,
				  sizeof(err)) < 0) {
		log_error("%s: %s", what, err);
		free(bound);
		return -1;
	}
	if (supervise_bind(cfg, bound, old, err, sizeof(err)) < 0) {
		log_error("%s: %s", what, err);
		goto out;
	}
	gi = supervise_start_generation(m, cfg, bound);
	if (gi < 0)
		supervise_close_listeners(bound);
out:
	if (gi < 0) {
		tls_ctx_destroy(&bound->tls);
		supervise_key_close(bound); /* its key process exits on EOF */
	}
	free(bound);
	return gi;
}

static void new_generation_like(struct master *m, int old)
{
	struct config *cfg = malloc(sizeof(*cfg));
	int gi;

	if (cfg == NULL)
		return;
	*cfg = *m->gens[old].cfg;
	/* the same config: every address is old's, duplicated */
	gi = start_new_generation(m, cfg, &m->gens[old], "cannot restart");
	if (gi < 0) {
		free(cfg);
		return;
	}
	m->current = gi;
}

static void reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;

		for (int i = 0; i < MAX_GENERATIONS && !found; i++) {
			struct generation *g = &m->gens[i];

			if (!g->used || g->auth_pid != pid)
				continue;
			found = true;
			g->auth_pid = 0;
			if (m->stopping || g->draining) {
				log_exit("auth", pid, status);
				retire_if_done(m, i);
				continue;
			}
			log_exit("auth process (restarting all workers)", pid,
				 status);
			/* Its workers lose auth and drain by themselves. */
			new_generation_like(m, i);
			drain_generation(m, i);
			retire_if_done(m, i);
		}
		for (int i = 0; i < MAX_GENERATIONS && !found; i++) {
			struct generation *g = &m->gens[i];

			if (!g->used || g->key_pid != pid)
				continue;
			found = true;
			g->key_pid = 0;
			if (m->stopping || g->key_ctl_fd < 0) {
				log_exit("key process", pid, status);
				retire_if_done(m, i);
				continue;
			}
			/* Workers' handshakes meanwhile fail (EOF) and
			 * their next ones reconnect to the new one. */
			log_exit("key process (restarting)", pid, status);
			g->key_restart_at = time(NULL) - g->key_started < 2 ?
					    time(NULL) + 1 : time(NULL);
		}
		for (int i = 0; i < MAX_SLOTS && !found; i++) {
			struct slot *slot = &m->slots[i];
			int gi = slot->gen;

			if (slot->pid != pid)
				continue;
			found = true;
			slot->pid = 0;
			/* what it had open is gone with it */
			metrics_reset_gauges(m->metrics, (unsigned)i);
			if (m->stopping || m->gens[gi].draining) {
				log_exit(worker_kind(slot->lmtp), pid, status);
				slot->gen = -1;
				retire_if_done(m, gi);
				continue;
			}
			log_exit(slot->lmtp ? "lmtp worker (restarting)" :
				 "worker (restarting)", pid, status);
			/* A worker that dies at once would spin: wait a bit. */
			slot->restart_at = time(NULL) - slot->started < 2 ?
					   time(NULL) + 1 : time(NULL);
		}
	}
}

static void restart_pending(struct master *m)
{
	time_t now = time(NULL);
	char err[512];

	for (int i = 0; i < MAX_GENERATIONS; i++) {
		struct generation *g = &m->gens[i];

		if (!g->used || g->key_pid > 0 || g->key_restart_at == 0 ||
		    g->key_restart_at > now)
			continue;
		if (supervise_key_start(m, g, err, sizeof(err)) < 0) {
			log_error("key process: %s (trying again)", err);
			g->key_restart_at = now + 1;
		}
	}
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *slot = &m->slots[i];

		if (slot->gen >= 0 && slot->pid == 0 && slot->restart_at > 0 &&
		    slot->restart_at <= now &&
		    start_worker(m, (unsigned)i, slot->gen, slot->lmtp) < 0)
			slot->restart_at = now + 1;
	}
}

static void reload(struct master *m)
{
	struct generation *old = &m->gens[m->current];
	struct config *cfg = malloc(sizeof(*cfg));
	const char *refusal;
	char err[512];
	int gi, old_index = m->current;

	if (cfg == NULL)
		return;
	if (supervise_load_config(m, cfg, err, sizeof(err)) < 0 ||
	    supervise_check_config(m, cfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running config: %s", err);
		goto out_free;
	}
	refusal = reload_refusal(m, cfg, old->cfg);
	if (refusal != NULL) {
		log_error("reload failed, keeping the running config: %s",
			  refusal);
		goto out_free;
	}
	config_warn(cfg);
	supervise_metrics_reload(m, cfg);
	gi = start_new_generation(m, cfg, old, "reload failed, keeping the "
				  "running config");
	if (gi < 0)
		goto out_free;
	m->current = gi;
	drain_generation(m, old_index);
	retire_if_done(m, old_index);
	log_info("configuration reloaded");
	return;

out_free:
	free(cfg);
}

static bool any_children(struct master *m)
{
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (m->gens[i].used &&
		    (m->gens[i].auth_pid > 0 || m->gens[i].key_pid > 0))
			return true;
	}
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].pid > 0)
			return true;
	}
	return false;
}

static void kill_all(struct master *m, int sig)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].pid > 0)
			kill(m->slots[i].pid, sig);
	}
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (m->gens[i].used && m->gens[i].auth_pid > 0 &&
		    sig == SIGKILL)
			kill(m->gens[i].auth_pid, sig);
		if (m->gens[i].used && m->gens[i].key_pid > 0 &&
		    sig == SIGKILL)
			kill(m->gens[i].key_pid, sig);
	}
}

static void begin_shutdown(struct master *m)
{
	log_info("shutting down");
	m->stopping = true;
	kill_all(m, SIGTERM);
	for (int i = 0; i < MAX_GENERATIONS; i++) {
		if (m->gens[i].used) {
			supervise_close_listeners(&m->gens[i]);
			m->gens[i].draining = true;
		}
	}
}

/* --- readiness --- */

/* A generation is ready when every one of its workers listens, which a
 * worker does only after its auth process said hello: from then on CAPA
 * and AUTH are true on every connection. Logged once per generation (the
 * line tests and operators wait for) and told to systemd. */
static void announce_if_ready(struct master *m, int gi)
{
	struct generation *g = &m->gens[gi];
	unsigned ready = 0, lmtp = 0;
	char note[160];

	if (!g->used || g->draining || g->announced)
		return;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m->slots[i].gen != gi)
			continue;
		if (!m->slots[i].ready)
			return;
		if (m->slots[i].lmtp)
			lmtp++;
		else
			ready++;
	}
	if (ready < g->nworkers || lmtp < g->nlmtp)
		return;
	g->announced = true;
	/* "ready: generation N, W workers" first: what scripts match */
	log_info("ready: generation %u, %u workers, %u lmtp workers, auth "
		 "pid=%d", g->number, ready, lmtp, (int)g->auth_pid);
	/* Outside systemd NOTIFY_SOCKET is unset and this does nothing. */
	snprintf(note, sizeof(note), "READY=1\nSTATUS=serving (generation "
		 "%u, %u workers, %u lmtp workers)\nMAINPID=%lu", g->number,
		 ready, lmtp, (unsigned long)getpid());
	if (sdnotify_send(note) < 0)
		log_warn("telling systemd we are ready: %s", strerror(errno));
}

/* Reads a worker's one-byte "listening" note (or its end). */
static void read_ready(struct master *m, int slot_index)
{
	struct slot *slot = &m->slots[slot_index];
	char c;
	ssize_t n = read(slot->ready_fd, &c, 1);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 1)
		slot->ready = true;
	/* One note per worker: its pipe is done either way. */
	close(slot->ready_fd);
	slot->ready_fd = -1;
	if (slot->ready && slot->gen >= 0)
		announce_if_ready(m, slot->gen);
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The node's heartbeat (store/node.h), from the master's loop: the one
 * process that lives as long as the node serves. */
static void beat_if_due(struct master *m)
{
	const char *error = "";
	uint64_t now = monotonic_ms();

	if (!node_heartbeats_enabled() || now < m->next_beat_ms)
		return;
	m->next_beat_ms = now + node_beat_interval_ms();
	if (node_heartbeat_beat(&error) < 0) {
		if (!m->beat_failing)
			log_error("node %s: heartbeat failed: %s: %s; after "
				  "node_heartbeat_timeout its sessions end "
				  "and other nodes take its locks", node_id(),
				  error, strerror(errno));
		m->beat_failing = true;
	} else if (m->beat_failing) {
		log_info("node %s: heartbeat written again", node_id());
		m->beat_failing = false;
	}
}

/* poll's timeout: a second, or less when the next beat is due sooner. */
static int poll_wait_ms(const struct master *m)
{
	uint64_t now = monotonic_ms();

	if (!node_heartbeats_enabled())
		return 1000;
	if (m->next_beat_ms <= now)
		return 0;
	return m->next_beat_ms - now < 1000 ? (int)(m->next_beat_ms - now) :
					      1000;
}

int supervise_loop(struct master *m)
{
	time_t kill_at = 0;

	for (;;) {
		struct pollfd pfd[2 + MAX_SLOTS];
		int slot_of[2 + MAX_SLOTS];
		struct signalfd_siginfo info;
		nfds_t npfd = 1, loop_index = 0;
		int timeout = poll_wait_ms(m);

		if (m->stopping) {
			/* Auth goes when the workers are gone. */
			bool workers_left = false;

			for (int i = 0; i < MAX_SLOTS; i++)
				workers_left |= m->slots[i].pid > 0;
			for (int i = 0; !workers_left && i < MAX_GENERATIONS;
			     i++) {
				if (m->gens[i].used &&
				    m->gens[i].control_fd >= 0) {
					close(m->gens[i].control_fd);
					m->gens[i].control_fd = -1;
				}
				if (m->gens[i].used)
					supervise_key_stop(&m->gens[i]);
			}
			if (!any_children(m))
				break;
			if (kill_at == 0)
				kill_at = time(NULL) + SHUTDOWN_GRACE_SECS;
			else if (time(NULL) >= kill_at)
				kill_all(m, SIGKILL);
		}
		pfd[0] = (struct pollfd){ .fd = m->signal_fd, .events = POLLIN };
		for (int i = 0; i < MAX_SLOTS; i++) {
			if (m->slots[i].ready_fd < 0)
				continue;
			slot_of[npfd] = i;
			pfd[npfd++] = (struct pollfd){
				.fd = m->slots[i].ready_fd, .events = POLLIN };
		}
		if (m->loop != NULL) {
			/* the metrics endpoint: its ios and timers */
			int t = ioloop_timeout_ms(m->loop);

			loop_index = npfd;
			pfd[npfd++] = (struct pollfd){
				.fd = ioloop_fd(m->loop), .events = POLLIN };
			if (t >= 0 && t < timeout)
				timeout = t;
		}
		if (poll(pfd, npfd, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return EX_OSERR;
		}
		beat_if_due(m);
		for (nfds_t i = 1; i < npfd; i++) {
			if (pfd[i].revents != 0 && i != loop_index)
				read_ready(m, slot_of[i]);
		}
		if (m->loop != NULL && ioloop_run_once(m->loop) < 0)
			log_error("metrics event loop: %s", strerror(errno));
		while (read(m->signal_fd, &info, sizeof(info)) ==
		       sizeof(info)) {
			switch (info.ssi_signo) {
			case SIGCHLD:
				break;
			case SIGHUP:
				if (!m->stopping)
					reload(m);
				break;
			case SIGTERM:
			case SIGINT:
				if (!m->stopping)
					begin_shutdown(m);
				break;
			}
		}
		reap(m);
		if (!m->stopping)
			restart_pending(m);
	}
	log_info("stopped");
	return EX_OK;
}
