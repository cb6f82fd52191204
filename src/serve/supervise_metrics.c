/* supervise_metrics.c: the master's metrics endpoint (see supervise.h):
 * metrics_listen bound by the master, GET /metrics rendered from the
 * workers' shared counters (metrics.h) and the master's own view of its
 * generations and slots. The master never reads client input; the HTTP
 * requests it reads are bounded and parsed by net/httpreq.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "net/listener.h"
#include "serve/metrics.h"
#include "serve/metrics_http.h"
#include "serve/metrics_text.h"
#include "serve/supervise.h"
#include "util/log.h"

static int render(void *context, struct outbuf *out)
{
	struct master *m = context;
	struct metrics_worker workers[MAX_SLOTS];
	const struct generation *cur = &m->gens[m->current];
	struct metrics_text_input in = {
		.metrics = m->metrics, .deliveries = m->deliveries,
		.workers = workers,
		.generation = cur->used ? cur->number : 0,
		.ready = cur->used && cur->announced,
	};

	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		const struct slot *slot = &m->slots[i];

		/* LMTP workers keep no POP3 counters */
		if (slot->gen < 0 || slot->pid <= 0 || slot->lmtp)
			continue;
		workers[in.nworkers++] = (struct metrics_worker){
			.slot = i, .generation = m->gens[slot->gen].number,
		};
	}
	return metrics_text_render(&in, out);
}

int supervise_metrics_start(struct master *m, const struct config *cfg,
			    char *err, size_t errsize)
{
	const struct listener_bind_req req = {
		.list = cfg->metrics_listen, .inherited = &m->inherited,
	};
	struct listener l;
	size_t n = 0;

	if (cfg->metrics_listen[0] == '\0')
		return 0;
	if (listener_bind_req(&req, &l, 1, &n, err, errsize) < 0)
		return -1;
	m->loop = ioloop_create();
	if (m->loop == NULL) {
		snprintf(err, errsize, "metrics: %s", strerror(errno));
		close(l.fd);
		return -1;
	}
	m->http = metrics_http_create(m->loop, l.fd, render, m);
	if (m->http == NULL) {
		snprintf(err, errsize, "metrics: %s", strerror(errno));
		ioloop_destroy(&m->loop);
		return -1;
	}
	snprintf(m->metrics_listen, sizeof(m->metrics_listen), "%s",
		 cfg->metrics_listen);
	log_info("metrics on http://%s/metrics%s", l.name,
		 l.inherited ? " (socket from systemd)" : "");
	return 0;
}

void supervise_metrics_reload(const struct master *m,
			      const struct config *cfg)
{
	if (strcmp(cfg->metrics_listen, m->metrics_listen) != 0)
		log_warn("metrics_listen changes only with a restart; still "
			 "%s", m->metrics_listen[0] != '\0' ?
			 m->metrics_listen : "off");
}

void supervise_metrics_stop(struct master *m)
{
	metrics_http_destroy(&m->http);
	ioloop_destroy(&m->loop);
}

void supervise_metrics_close_in_child(struct master *m)
{
	metrics_http_close_fds(m->http);
	if (m->loop != NULL)
		close(ioloop_fd(m->loop));
}
