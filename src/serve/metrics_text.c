/* metrics_text.c: the Prometheus text format of the counters (see
 * metrics_text.h). Series are always written, zero or not, so a rate()
 * over them starts at the first scrape, not at the first event. */
#include "serve/metrics_text.h"

#include <inttypes.h>
#include <stdio.h>

#include "auth/sasl_mech.h"
#include "serve/metrics.h"
#include "store/delivery_stats.h"

static const char *const login_result_names[METRICS_LOGIN_RESULTS] = {
	[METRICS_LOGIN_OK] = "ok",
	[METRICS_LOGIN_FAILED] = "failed",
	[METRICS_LOGIN_DELAY] = "login_delay",
	[METRICS_LOGIN_TOO_MANY] = "too_many_sessions",
	[METRICS_LOGIN_TEMPFAIL] = "tempfail",
	[METRICS_LOGIN_PERMFAIL] = "permfail",
};

static const char *const refusal_names[METRICS_REFUSALS] = {
	[METRICS_REFUSED_MAX_CONNECTIONS] = "max_connections",
	[METRICS_REFUSED_PER_IP] = "max_connections_per_ip",
	[METRICS_REFUSED_PROXY] = "proxy",
	[METRICS_REFUSED_SETUP] = "setup",
};

/* The single-valued counters and gauges: {name, type, help, field}. */
struct simple_metric {
	const char *name;
	const char *type;
	const char *help;
	int counter;   /* enum metrics_counter, or -1 */
	int gauge;     /* enum metrics_gauge, or -1 */
};

static const struct simple_metric simple_metrics[] = {
	{ "satchel_sessions_active", "gauge", "POP3 sessions open now.",
	  -1, METRICS_SESSIONS_OPEN },
	{ "satchel_sessions_total", "counter", "POP3 sessions started.",
	  METRICS_SESSIONS, -1 },
	{ "satchel_bytes_sent_total", "counter",
	  "Octets of POP3 replies written to clients (before TLS).",
	  METRICS_BYTES_SENT, -1 },
	{ "satchel_retrievals_total", "counter",
	  "Messages sent whole by RETR.", METRICS_RETRIEVALS, -1 },
	{ "satchel_deletions_total", "counter",
	  "Messages removed from maildrops at UPDATE.", METRICS_DELETIONS,
	  -1 },
	{ "satchel_auth_queue_depth", "gauge",
	  "Requests the workers sent to the auth process that are not "
	  "answered yet.", -1, METRICS_AUTH_PENDING },
};

static const char *mech_name(unsigned mech)
{
	const struct sasl_mech *m;

	if (mech == METRICS_MECH_USER)
		return "USER";
	if (mech == METRICS_MECH_APOP)
		return "APOP";
	m = sasl_mech_get(mech - METRICS_MECH_SASL);
	return m != NULL ? m->name : NULL;
}

static int head(struct outbuf *out, const char *name, const char *type,
		const char *help)
{
	return outbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			     name, type);
}

static int render_simple(const struct metrics_row *t, struct outbuf *out)
{
	for (size_t i = 0; i < sizeof(simple_metrics) /
			       sizeof(simple_metrics[0]); i++) {
		const struct simple_metric *s = &simple_metrics[i];
		int64_t v = s->counter >= 0 ? (int64_t)t->counter[s->counter]
					    : t->gauge[s->gauge];

		if (head(out, s->name, s->type, s->help) < 0 ||
		    outbuf_printf(out, "%s %" PRId64 "\n", s->name, v) < 0)
			return -1;
	}
	return 0;
}

static int render_logins(const struct metrics_row *t, struct outbuf *out)
{
	if (head(out, "satchel_logins_total", "counter",
		 "Login attempts the auth process answered, by mechanism "
		 "and result.") < 0)
		return -1;
	for (unsigned m = 0; m < METRICS_MECHS_MAX; m++) {
		const char *name = mech_name(m);

		for (unsigned r = 0; name != NULL && r < METRICS_LOGIN_RESULTS;
		     r++) {
			if (outbuf_printf(out, "satchel_logins_total{mechanism"
					  "=\"%s\",result=\"%s\"} %" PRIu64
					  "\n", name, login_result_names[r],
					  t->login[m][r]) < 0)
				return -1;
		}
	}
	return 0;
}

static int render_deliveries(const struct delivery_stats *st,
			     struct outbuf *out)
{
	uint64_t n[DELIVERY_STATS_RESULTS];

	delivery_stats_read(st, n);
	if (head(out, "satchel_deliveries_total", "counter",
		 "Recipients the LMTP workers delivered to, by result (one "
		 "per recipient; a result after a timeout counts as what "
		 "the store did).") < 0)
		return -1;
	for (unsigned r = 0; r < DELIVERY_STATS_RESULTS; r++) {
		if (outbuf_printf(out, "satchel_deliveries_total{result="
				  "\"%s\"} %" PRIu64 "\n",
				  delivery_stats_names[r], n[r]) < 0)
			return -1;
	}
	return 0;
}

static int render_refusals(const struct metrics_row *t, struct outbuf *out)
{
	if (head(out, "satchel_connections_refused_total", "counter",
		 "Connections closed before a session, by reason.") < 0)
		return -1;
	for (unsigned r = 0; r < METRICS_REFUSALS; r++) {
		if (outbuf_printf(out, "satchel_connections_refused_total{"
				  "reason=\"%s\"} %" PRIu64 "\n",
				  refusal_names[r], t->refused[r]) < 0)
			return -1;
	}
	return 0;
}

/* Microseconds as seconds without trailing zeros: "0.0025", "10". */
static void seconds_text(uint64_t us, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, us / 1000000,
			 us % 1000000);

	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

static int render_open_latency(const struct metrics_row *t,
			       struct outbuf *out)
{
	static const char name[] = "satchel_maildrop_open_seconds";
	uint64_t cumulative = 0;

	if (head(out, name, "histogram",
		 "Time from login to an opened maildrop (lock, listing, "
		 "index).") < 0)
		return -1;
	for (unsigned b = 0; b < METRICS_OPEN_BUCKETS; b++) {
		char le[32];

		cumulative += t->open_bucket[b];
		seconds_text(metrics_open_bounds_us[b], le, sizeof(le));
		if (outbuf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n",
				  name, le, cumulative) < 0)
			return -1;
	}
	cumulative += t->open_bucket[METRICS_OPEN_BUCKETS];
	return outbuf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
			     "%s_sum %" PRIu64 ".%06" PRIu64 "\n"
			     "%s_count %" PRIu64 "\n", name, cumulative, name,
			     t->open_sum_us / 1000000, t->open_sum_us % 1000000,
			     name, t->open_count) < 0 ? -1 : 0;
}

static int render_workers(const struct metrics_text_input *in,
			  struct outbuf *out)
{
	static const char *const names[2] = { "satchel_worker_sessions",
					      "satchel_worker_sessions_total" };

	for (int k = 0; k < 2; k++) {
		if (head(out, names[k], k == 0 ? "gauge" : "counter",
			 k == 0 ? "Sessions open in each running worker." :
			 "Sessions each worker slot has started.") < 0)
			return -1;
		for (size_t i = 0; i < in->nworkers; i++) {
			const struct metrics_worker *w = &in->workers[i];
			struct metrics_row r;
			int64_t v;

			metrics_read_row(in->metrics, w->slot, &r);
			v = k == 0 ? r.gauge[METRICS_SESSIONS_OPEN] :
			    (int64_t)r.counter[METRICS_SESSIONS];
			if (outbuf_printf(out, "%s{worker=\"%u\",kind=\"%s\","
					  "generation=\"%u\"} %" PRId64 "\n",
					  names[k], w->slot,
					  w->lmtp ? "lmtp" : "pop3",
					  w->generation, v) < 0)
				return -1;
		}
	}
	return 0;
}

int metrics_text_render(const struct metrics_text_input *in,
			struct outbuf *out)
{
	struct metrics_row total;

	metrics_read_total(in->metrics, &total);
	if (head(out, "satchel_generation", "gauge",
		 "The newest generation of processes (1 at start, one more "
		 "per reload).") < 0 ||
	    outbuf_printf(out, "satchel_generation %u\n", in->generation) < 0 ||
	    head(out, "satchel_ready", "gauge",
		 "1 once every worker of the newest generation listens.") < 0 ||
	    outbuf_printf(out, "satchel_ready %d\n", in->ready ? 1 : 0) < 0)
		return -1;
	if (render_simple(&total, out) < 0 || render_logins(&total, out) < 0 ||
	    render_refusals(&total, out) < 0 ||
	    render_deliveries(in->deliveries, out) < 0 ||
	    render_open_latency(&total, out) < 0)
		return -1;
	return render_workers(in, out);
}
