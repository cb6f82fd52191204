/* bench.c: `satchel bench`: options, the run (slots, users, time bounds)
 * and the report. The protocol side of a session is in client.c (POP3)
 * and lmtp_client.c (LMTP). */
#include "bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "net/tls.h"
#include "util/strnum.h"

#define TICK_MS 100
#define MAX_CONCURRENCY 100000
#define MAX_USERS 10000000

/* SIGINT/SIGTERM end the run early and still print the report. */
static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int signo)
{
	(void)signo;
	bench_interrupted = bench_interrupted ? 2 : 1;
}

struct bench {
	struct bench_options opt;
	struct bench_stats stats;
	struct ioloop *loop;
	struct tls_ctx *tls_ctx;
	struct sockaddr_storage addr;
	socklen_t addrlen;

	struct bench_client **clients;   /* POP3 */
	struct bench_lmtp **lmtp;        /* or LMTP, one per slot */
	bool *pending;            /* slot waits to start a session */
	bool *user_busy;          /* per user; LMTP: per group of rcpts */
	unsigned next_user;
	bool restart_armed;
	struct timer *restart_timer, *tick_timer;

	uint64_t start_us, end_us, started, last_progress_us;
	uint64_t ready_us;
	unsigned idle_ready;
	bool draining, quit_sent, tty;
};

const struct bench_options *bench_options(const struct bench *b)
{
	return &b->opt;
}

struct bench_stats *bench_stats(struct bench *b)
{
	return &b->stats;
}

struct ioloop *bench_loop(struct bench *b)
{
	return b->loop;
}

struct tls_ctx *bench_tls_ctx(struct bench *b)
{
	return b->tls_ctx;
}

const struct sockaddr *bench_addr(const struct bench *b, socklen_t *len_r)
{
	*len_r = b->addrlen;
	return (const struct sockaddr *)&b->addr;
}

uint64_t bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t bench_start_us(const struct bench *b)
{
	return b->start_us;
}

/* USERFMT with its first "%d" replaced by the user number. */
void bench_user_name(const struct bench *b, unsigned index, char *buf,
		     size_t size)
{
	const char *fmt = b->opt.user_fmt, *d = strstr(fmt, "%d");

	if (d == NULL) {
		snprintf(buf, size, "%s", fmt);
		return;
	}
	snprintf(buf, size, "%.*s%u%s", (int)(d - fmt), fmt,
		 b->opt.user_base + index, d + 2);
}

/* --- running sessions --- */

static bool bench_is_lmtp(const struct bench *b)
{
	return b->opt.scenario == SCENARIO_LMTP;
}

/* What two sessions must not share: a user (both POP3 servers lock the
 * maildrop), or for LMTP a group of rcpts users (so each user's count
 * of deliveries belongs to one connection). */
static unsigned bench_units(const struct bench *b)
{
	return bench_is_lmtp(b) ? b->opt.users / b->opt.rcpts : b->opt.users;
}

static bool bench_slot_busy(const struct bench *b, unsigned slot)
{
	return bench_is_lmtp(b) ? bench_lmtp_busy(b->lmtp[slot])
				: bench_client_busy(b->clients[slot]);
}

static bool bench_may_start(const struct bench *b)
{
	if (b->draining)
		return false;
	return b->opt.sessions == 0 || b->started < b->opt.sessions;
}

/* Starts a session in slot if a user is free (two sessions never share
 * a maildrop: both servers lock it). Returns false when none is. */
static bool bench_start_slot(struct bench *b, unsigned slot)
{
	char name[256];

	unsigned units = bench_units(b);

	for (unsigned i = 0; i < units; i++) {
		unsigned u = (b->next_user + i) % units;

		if (b->user_busy[u])
			continue;
		b->user_busy[u] = true;
		b->next_user = (u + 1) % units;
		b->pending[slot] = false;
		if (bench_is_lmtp(b)) {
			/* -n counts messages: bench_lmtp_next_message */
			bench_lmtp_start(b->lmtp[slot], u);
			return true;
		}
		b->started++;
		bench_user_name(b, u, name, sizeof(name));
		bench_client_start(b->clients[slot], name, u);
		return true;
	}
	return false;
}

static void bench_start_pending(struct bench *b)
{
	for (unsigned i = 0; i < b->opt.concurrency && bench_may_start(b);
	     i++) {
		if (b->pending[i] && !bench_slot_busy(b, i) &&
		    !bench_start_slot(b, i))
			break;
	}
}

static void bench_restart_cb(void *context)
{
	struct bench *b = context;

	b->restart_timer = NULL;
	bench_start_pending(b);
}

static unsigned bench_busy_count(const struct bench *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < b->opt.concurrency; i++)
		n += bench_slot_busy(b, i);
	return n;
}

static void bench_slot_done(struct bench *b, unsigned slot, unsigned unit,
			    bool ok)
{
	b->user_busy[unit] = false;
	b->pending[slot] = true;
	if (!bench_may_start(b) && bench_busy_count(b) == 0) {
		b->end_us = bench_now_us();
		ioloop_stop(b->loop);
		return;
	}
	/* Not from inside the client's callback (no recursion); a failed
	 * session's slot waits for the next tick so a dead server does not
	 * make the loop spin. */
	if (ok && b->restart_timer == NULL)
		b->restart_timer = timer_add(b->loop, 0, bench_restart_cb, b);
}

void bench_session_done(struct bench *b, struct bench_client *c, bool ok)
{
	for (unsigned slot = 0; slot < b->opt.concurrency; slot++) {
		if (b->clients[slot] == c) {
			bench_slot_done(b, slot, bench_client_user_index(c),
					ok);
			return;
		}
	}
}

void bench_lmtp_done(struct bench *b, unsigned slot, bool ok)
{
	bench_slot_done(b, slot, bench_lmtp_group(b->lmtp[slot]), ok);
}

bool bench_lmtp_next_message(struct bench *b)
{
	if (!bench_may_start(b))
		return false;
	b->started++;
	return true;
}

void bench_count_failure(struct bench *b, enum bench_error kind)
{
	b->stats.errors[kind]++;
	b->stats.sessions_failed++;
}

void bench_idle_ready(struct bench *b)
{
	b->idle_ready++;
	if (b->idle_ready == b->opt.concurrency && b->ready_us == 0) {
		b->ready_us = bench_now_us();
		/* Scripts wait for this line to measure the server. */
		fprintf(stderr, "%sready: %u connections logged in after "
			"%.2f s\n", b->tty ? "\r\033[K" : "", b->idle_ready,
			(double)(b->ready_us - b->start_us) / 1e6);
		fflush(stderr);
	}
}


static void bench_progress(struct bench *b, uint64_t now)
{
	double t = (double)(now - b->start_us) / 1e6;
	uint64_t errs = b->stats.sessions_failed;

	fprintf(stderr, "\r\033[K%6.1fs  sessions %llu (%.0f/s)  %.1f MB/s  "
		"busy %u  errors %llu", t,
		(unsigned long long)b->stats.sessions_ok,
		t > 0 ? (double)b->stats.sessions_ok / t : 0,
		t > 0 ? (double)b->stats.message_octets / 1e6 / t : 0,
		bench_busy_count(b), (unsigned long long)errs);
	fflush(stderr);
}

static void bench_tick(void *context)
{
	struct bench *b = context;
	uint64_t now = bench_now_us(), elapsed = now - b->start_us;
	double seconds = (double)elapsed / 1e6;

	b->tick_timer = NULL;
	for (unsigned i = 0; i < b->opt.concurrency; i++) {
		if (bench_is_lmtp(b))
			bench_lmtp_tick(b->lmtp[i], now);
		else
			bench_client_tick(b->clients[i], now);
	}
	if (((b->opt.seconds > 0 && seconds >= b->opt.seconds) ||
	     bench_interrupted) && !b->draining) {
		b->draining = true;
		if (b->opt.scenario == SCENARIO_IDLE) {
			for (unsigned i = 0; i < b->opt.concurrency; i++)
				bench_client_quit(b->clients[i]);
		}
	}
	if (!bench_may_start(b) && bench_busy_count(b) == 0) {
		ioloop_stop(b->loop);
		return;
	}
	if (seconds >= b->opt.max_time || bench_interrupted > 1) {
		/* The hard bound: whatever still runs is cut off. */
		for (unsigned i = 0; i < b->opt.concurrency; i++) {
			if (bench_is_lmtp(b))
				bench_lmtp_abort(b->lmtp[i]);
			else
				bench_client_abort(b->clients[i]);
		}
		ioloop_stop(b->loop);
		return;
	}
	bench_start_pending(b);
	if (b->tty && !b->opt.quiet && now - b->last_progress_us >= 1000000) {
		b->last_progress_us = now;
		bench_progress(b, now);
	}
	b->tick_timer = timer_add(b->loop, TICK_MS, bench_tick, b);
}

/* --- options --- */

static int usage(FILE *out)
{
	fprintf(out,
"usage: satchel bench [-h HOST] [-p PORT] [--tls | --starttls] [--cafile F]\n"
"         -u USERFMT -w PASS [-U NUSERS] [-c CONCURRENCY]\n"
"         (-n SESSIONS | -t SECONDS) [-s SCENARIO] [--json]\n"
"       satchel bench --lmtp [-h HOST] [-p PORT] -u USERFMT [-U NUSERS]\n"
"         [--rcpts N] [-c CONCURRENCY] (-n MESSAGES | -t SECONDS) [--json]\n"
"\n"
"  -h HOST          server address (default 127.0.0.1)\n"
"  -p PORT          port (default 110, or 995 with --tls, 24 with --lmtp)\n"
"  -u USERFMT       user name; its first %%d becomes the user number\n"
"  -w PASS          the password of every user\n"
"  -U NUSERS        users numbered from --user-base (default 1); two\n"
"                   sessions never use one user at the same time\n"
"  -c CONCURRENCY   connections at once (default 1)\n"
"  -n SESSIONS      run this many sessions, or\n"
"  -t SECONDS       start sessions for this long (idle: hold this long)\n"
"  -s SCENARIO      login (default), fetch, top, list, idle\n"
"  --tls            implicit TLS; --starttls: STLS after the greeting\n"
"  --cafile FILE    verify the server certificate (and --sni name)\n"
"  --sni NAME       TLS server name (default HOST)\n"
"  --timeout SECS   fail a session stuck this long in one step (30)\n"
"  --noop SECS      idle: mean seconds between NOOPs (5)\n"
"  --max-time SECS  hard bound of the run (default -t + 60, or 600)\n"
"  --user-base N    number of the first user (default 1)\n"
"  --lmtp           deliver over LMTP: LHLO, then per message MAIL, RCPT\n"
"                   per recipient, DATA (pipelined), a 4 KB message; -n\n"
"                   counts messages; latency runs from the final dot to\n"
"                   the last per-recipient reply\n"
"  --rcpts N        LMTP: recipients per message (default 1, at most %d);\n"
"                   each connection a group of N of the NUSERS users\n"
"  --json           one JSON object on stdout\n"
"  --quiet          no progress line\n", BENCH_RCPTS_MAX);
	return out == stdout ? EX_OK : EX_USAGE;
}

static int parse_uint_opt(const char *s, uint64_t max, uint64_t *v)
{
	if (strnum_parse_u64(s, max, v) < 0) {
		fprintf(stderr, "satchel bench: bad number '%s'\n", s);
		return -1;
	}
	return 0;
}

static int parse_secs(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(*v > 0) ||
	    *v > 86400) {
		fprintf(stderr, "satchel bench: bad seconds '%s'\n", s);
		return -1;
	}
	return 0;
}

static const char *const scenario_names[] = {
	[SCENARIO_LOGIN] = "login", [SCENARIO_FETCH] = "fetch",
	[SCENARIO_TOP] = "top", [SCENARIO_LIST] = "list",
	[SCENARIO_IDLE] = "idle", [SCENARIO_LMTP] = "lmtp",
};

static int parse_options(struct bench_options *o, int argc, char **argv)
{
	enum { O_TLS = 256, O_STARTTLS, O_CAFILE, O_SNI, O_TIMEOUT, O_NOOP,
	       O_MAXTIME, O_BASE, O_JSON, O_QUIET, O_HELP, O_LMTP, O_RCPTS };
	static const struct option longopts[] = {
		{ "tls", no_argument, NULL, O_TLS },
		{ "starttls", no_argument, NULL, O_STARTTLS },
		{ "cafile", required_argument, NULL, O_CAFILE },
		{ "sni", required_argument, NULL, O_SNI },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "noop", required_argument, NULL, O_NOOP },
		{ "max-time", required_argument, NULL, O_MAXTIME },
		{ "user-base", required_argument, NULL, O_BASE },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ "lmtp", no_argument, NULL, O_LMTP },
		{ "rcpts", required_argument, NULL, O_RCPTS },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int ch;
	bool found;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->user_fmt = "user%d";
	o->users = 1;
	o->user_base = 1;
	o->concurrency = 1;
	o->rcpts = 1;
	o->step_timeout = 30;
	o->noop_interval = 5;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h:p:u:w:U:c:n:t:s:", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h': o->host = optarg; break;
		case 'p': o->port = optarg; break;
		case 'u': o->user_fmt = optarg; break;
		case 'w': o->password = optarg; break;
		case 'U':
			if (parse_uint_opt(optarg, MAX_USERS, &v) < 0 || v == 0)
				return -1;
			o->users = (unsigned)v;
			break;
		case 'c':
			if (parse_uint_opt(optarg, MAX_CONCURRENCY, &v) < 0 ||
			    v == 0)
				return -1;
			o->concurrency = (unsigned)v;
			break;
		case 'n':
			if (parse_uint_opt(optarg, UINT64_MAX / 2, &v) < 0 ||
			    v == 0)
				return -1;
			o->sessions = v;
			break;
		case 't':
			if (parse_secs(optarg, &o->seconds) < 0)
				return -1;
			break;
		case 's':
			found = false;
			for (size_t i = 0; i < sizeof(scenario_names) /
					       sizeof(scenario_names[0]); i++) {
				if (strcmp(optarg, scenario_names[i]) == 0) {
					o->scenario = (enum bench_scenario)i;
					found = true;
				}
			}
			if (!found) {
				fprintf(stderr, "satchel bench: unknown "
					"scenario '%s'\n", optarg);
				return -1;
			}
			break;
		case O_TLS: o->tls = BENCH_TLS_IMPLICIT; break;
		case O_STARTTLS: o->tls = BENCH_TLS_STARTTLS; break;
		case O_CAFILE: o->cafile = optarg; break;
		case O_SNI: o->sni = optarg; break;
		case O_TIMEOUT:
			if (parse_secs(optarg, &o->step_timeout) < 0)
				return -1;
			break;
		case O_NOOP:
			if (parse_secs(optarg, &o->noop_interval) < 0)
				return -1;
			break;
		case O_MAXTIME:
			if (parse_secs(optarg, &o->max_time) < 0)
				return -1;
			break;
		case O_BASE:
			if (parse_uint_opt(optarg, MAX_USERS, &v) < 0)
				return -1;
			o->user_base = (unsigned)v;
			break;
		case O_JSON: o->json = true; break;
		case O_QUIET: o->quiet = true; break;
		case O_HELP: return 1;
		case O_LMTP: o->scenario = SCENARIO_LMTP; break;
		case O_RCPTS:
			if (parse_uint_opt(optarg, BENCH_RCPTS_MAX, &v) < 0 ||
			    v == 0)
				return -1;
			o->rcpts = (unsigned)v;
			break;
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "satchel bench: unexpected '%s'\n",
			argv[optind]);
		return -1;
	}
	if (o->scenario == SCENARIO_LMTP) {
		if (o->tls != BENCH_TLS_NONE) {
			fprintf(stderr, "satchel bench: --lmtp runs without "
				"TLS\n");
			return -1;
		}
		if (o->users < o->rcpts) {
			fprintf(stderr, "satchel bench: --rcpts %u needs -U "
				"%u users or more\n", o->rcpts, o->rcpts);
			return -1;
		}
		if (o->port == NULL)
			o->port = "24";
	} else if (o->password == NULL) {
		fprintf(stderr, "satchel bench: -w PASS is required\n");
		return -1;
	}
	if (o->sessions > 0 && o->seconds > 0) {
		fprintf(stderr, "satchel bench: -n and -t exclude each "
			"other\n");
		return -1;
	}
	if (o->scenario == SCENARIO_IDLE && o->sessions > 0) {
		fprintf(stderr, "satchel bench: idle runs for -t SECONDS\n");
		return -1;
	}
	if (o->sessions == 0 && o->seconds == 0)
		o->seconds = 10;
	if (o->max_time == 0)
		o->max_time = o->seconds > 0 ? o->seconds + 60 : 600;
	if (o->port == NULL)
		o->port = o->tls == BENCH_TLS_IMPLICIT ? "995" : "110";
	if (o->sni == NULL && o->tls != BENCH_TLS_NONE)
		o->sni = o->host;
	return 0;
}

/* --- setup and report --- */

static int bench_resolve(struct bench *b)
{
	struct addrinfo hints, *res;
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	ret = getaddrinfo(b->opt.host, b->opt.port, &hints, &res);
	if (ret != 0) {
		fprintf(stderr, "satchel bench: %s:%s: %s\n", b->opt.host,
			b->opt.port, gai_strerror(ret));
		return -1;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Each connection needs a descriptor: take the hard limit. */
static void raise_fd_limit(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need + 64) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct bench_result {
	double elapsed, sessions_per_s, mb_per_s, messages_per_s;
	double session_p50, session_p99, login_p50, login_p99;
	uint64_t errors;
};

/* LMTP: what each user was delivered, for a check against its maildrop. */
static void bench_report_lmtp_json(const struct bench *b,
				   const struct bench_result *r)
{
	const struct bench_stats *st = &b->stats;

	printf(",\"rcpts\":%u,\"deliveries\":%llu,\"messages_per_s\":%.2f,"
	       "\"delivery_p50_ms\":%.3f,\"delivery_p99_ms\":%.3f,"
	       "\"user_deliveries\":{", b->opt.rcpts,
	       (unsigned long long)st->deliveries, r->messages_per_s,
	       r->session_p50, r->session_p99);
	for (unsigned i = 0; i < b->opt.users; i++) {
		char name[256];

		bench_user_name(b, i, name, sizeof(name));
		/* the user format comes from our own command line, but
		 * a quote or backslash in it would break the JSON */
		if (strpbrk(name, "\"\\") != NULL)
			continue;
		printf("%s\"%s\":%llu", i > 0 ? "," : "", name,
		       (unsigned long long)st->user_deliveries[i]);
	}
	printf("}");
}

static void bench_report(struct bench *b, struct bench_result *r)
{
	struct bench_stats *st = &b->stats;
	const struct bench_options *o = &b->opt;

	if (o->json) {
		printf("{\"scenario\":\"%s\",\"host\":\"%s\",\"port\":\"%s\","
		       "\"tls\":\"%s\",\"concurrency\":%u,\"users\":%u,"
		       "\"elapsed_s\":%.3f,\"sessions\":%llu,"
		       "\"failed\":%llu,\"logins\":%llu,"
		       "\"sessions_per_s\":%.2f,\"messages\":%llu,"
		       "\"message_octets\":%llu,\"mb_per_s\":%.2f,"
		       "\"session_p50_ms\":%.3f,\"session_p99_ms\":%.3f,"
		       "\"login_p50_ms\":%.3f,\"login_p99_ms\":%.3f,"
		       "\"noops\":%llu,\"idle_ready\":%u,"
		       "\"idle_ready_s\":%.3f,\"errors\":{",
		       scenario_names[o->scenario], o->host, o->port,
		       o->tls == BENCH_TLS_IMPLICIT ? "implicit" :
		       o->tls == BENCH_TLS_STARTTLS ? "starttls" : "none",
		       o->concurrency, o->users, r->elapsed,
		       (unsigned long long)st->sessions_ok,
		       (unsigned long long)st->sessions_failed,
		       (unsigned long long)st->logins, r->sessions_per_s,
		       (unsigned long long)st->messages,
		       (unsigned long long)st->message_octets, r->mb_per_s,
		       r->session_p50, r->session_p99, r->login_p50,
		       r->login_p99, (unsigned long long)st->noops,
		       b->idle_ready, b->ready_us == 0 ? 0 :
		       (double)(b->ready_us - b->start_us) / 1e6);
		for (int i = 0; i < BERR_COUNT_KINDS; i++)
			printf("%s\"%s\":%llu", i > 0 ? "," : "",
			       bench_error_names[i],
			       (unsigned long long)st->errors[i]);
		printf("}");
		if (o->scenario == SCENARIO_LMTP)
			bench_report_lmtp_json(b, r);
		printf("}\n");
		return;
	}
	printf("scenario %s on %s:%s%s, concurrency %u, %u users, %.2f s\n",
	       scenario_names[o->scenario], o->host, o->port,
	       o->tls == BENCH_TLS_IMPLICIT ? " (TLS)" :
	       o->tls == BENCH_TLS_STARTTLS ? " (STLS)" : "",
	       o->concurrency, o->users, r->elapsed);
	printf("  sessions      %llu ok, %llu failed, %.1f/s\n",
	       (unsigned long long)st->sessions_ok,
	       (unsigned long long)st->sessions_failed, r->sessions_per_s);
	if (o->scenario == SCENARIO_LMTP) {
		printf("  messages      %llu to %u recipients each, %.1f/s, "
		       "%llu deliveries\n",
		       (unsigned long long)st->messages, o->rcpts,
		       r->messages_per_s,
		       (unsigned long long)st->deliveries);
		printf("  delivery      p50 %.2f ms, p99 %.2f ms (final dot "
		       "to last reply)\n", r->session_p50, r->session_p99);
	} else {
		printf("  logins        %llu\n",
		       (unsigned long long)st->logins);
	}
	if (o->scenario == SCENARIO_IDLE)
		printf("  idle          %u logged in, %llu NOOPs\n",
		       b->idle_ready, (unsigned long long)st->noops);
	printf("  message data  %llu messages, %.1f MB, %.1f MB/s\n",
	       (unsigned long long)st->messages,
	       (double)st->message_octets / 1e6, r->mb_per_s);
	if (o->scenario != SCENARIO_LMTP) {
		printf("  session       p50 %.2f ms, p99 %.2f ms\n",
		       r->session_p50, r->session_p99);
		printf("  login         p50 %.2f ms, p99 %.2f ms\n",
		       r->login_p50, r->login_p99);
	}
	printf("  errors        ");
	if (r->errors == 0)
		printf("none");
	for (int i = 0; i < BERR_COUNT_KINDS; i++)
		if (st->errors[i] > 0)
			printf("%s=%llu ", bench_error_names[i],
			       (unsigned long long)st->errors[i]);
	printf("\n");
}

static void bench_free(struct bench *b)
{
	if (b->clients != NULL)
		for (unsigned i = 0; i < b->opt.concurrency; i++)
			bench_client_destroy(&b->clients[i]);
	if (b->lmtp != NULL)
		for (unsigned i = 0; i < b->opt.concurrency; i++)
			bench_lmtp_destroy(&b->lmtp[i]);
	free(b->clients);
	free(b->lmtp);
	free(b->stats.user_deliveries);
	free(b->pending);
	free(b->user_busy);
	timer_remove(&b->restart_timer);
	timer_remove(&b->tick_timer);
	ioloop_destroy(&b->loop);
	tls_ctx_destroy(&b->tls_ctx);
	bench_samples_free(&b->stats.session_us);
	bench_samples_free(&b->stats.login_us);
}

/* One client per slot, POP3 or LMTP. -1 (errno set) when out of memory. */
static int bench_create_clients(struct bench *b)
{
	unsigned n = b->opt.concurrency;

	if (bench_is_lmtp(b)) {
		b->lmtp = calloc(n, sizeof(*b->lmtp));
		b->stats.user_deliveries = calloc(b->opt.users,
			sizeof(*b->stats.user_deliveries));
		if (b->lmtp == NULL || b->stats.user_deliveries == NULL)
			return -1;
	} else {
		b->clients = calloc(n, sizeof(*b->clients));
		if (b->clients == NULL)
			return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (b->lmtp != NULL)
			b->lmtp[i] = bench_lmtp_create(b, i);
		else
			b->clients[i] = bench_client_create(b, i);
		if (b->lmtp != NULL ? b->lmtp[i] == NULL
				    : b->clients[i] == NULL)
			return -1;
		b->pending[i] = true;
	}
	return 0;
}

int bench_main(int argc, char **argv)
{
	struct bench b;
	struct bench_result r;
	char error[256];
	int ret;

	memset(&b, 0, sizeof(b));
	ret = parse_options(&b.opt, argc, argv);
	if (ret != 0)
		return usage(ret > 0 ? stdout : stderr);
	if (bench_resolve(&b) < 0)
		return EX_NOHOST;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	raise_fd_limit(b.opt.concurrency);
	srandom((unsigned)getpid());
	b.tty = isatty(STDERR_FILENO) && !b.opt.quiet;
	if (b.opt.tls != BENCH_TLS_NONE) {
		/* without --cafile any certificate is accepted: a bench
		 * usually runs against a test server's self-signed one */
		const struct tls_client_settings tls_set = {
			.verify = b.opt.cafile != NULL,
			.ca_file = b.opt.cafile,
		};

		if (tls_client_ctx_create(&tls_set, &b.tls_ctx, error,
					  sizeof(error)) < 0) {
			fprintf(stderr, "satchel bench: %s\n", error);
			return EX_CONFIG;
		}
	}
	b.loop = ioloop_create();
	b.pending = calloc(b.opt.concurrency, sizeof(*b.pending));
	b.user_busy = calloc(bench_units(&b), sizeof(*b.user_busy));
	if (b.loop == NULL || b.pending == NULL || b.user_busy == NULL ||
	    bench_create_clients(&b) < 0)
		goto out_oom;
	if (b.opt.concurrency > bench_units(&b) && !b.opt.quiet)
		fprintf(stderr, "satchel bench: %u connections share %u "
			"%s: some wait for a free one\n", b.opt.concurrency,
			bench_units(&b), bench_is_lmtp(&b) ?
			"groups of recipients" : "users");
	b.start_us = b.last_progress_us = bench_now_us();
	bench_start_pending(&b);
	b.tick_timer = timer_add(b.loop, TICK_MS, bench_tick, &b);
	if (b.tick_timer == NULL || ioloop_run(b.loop) < 0)
		goto out_oom;
	if (b.end_us == 0)
		b.end_us = bench_now_us();
	if (b.tty)
		fprintf(stderr, "\r\033[K");

	memset(&r, 0, sizeof(r));
	r.elapsed = (double)(b.end_us - b.start_us) / 1e6;
	if (r.elapsed > 0) {
		r.sessions_per_s = (double)b.stats.sessions_ok / r.elapsed;
		r.mb_per_s = (double)b.stats.message_octets / 1e6 / r.elapsed;
		r.messages_per_s = (double)b.stats.messages / r.elapsed;
	}
	r.session_p50 = bench_samples_quantile_ms(&b.stats.session_us, 0.5);
	r.session_p99 = bench_samples_quantile_ms(&b.stats.session_us, 0.99);
	r.login_p50 = bench_samples_quantile_ms(&b.stats.login_us, 0.5);
	r.login_p99 = bench_samples_quantile_ms(&b.stats.login_us, 0.99);
	for (int i = 0; i < BERR_COUNT_KINDS; i++)
		r.errors += b.stats.errors[i];
	bench_report(&b, &r);
	bench_free(&b);
	return r.errors == 0 ? EX_OK : EX_SOFTWARE;

out_oom:
	fprintf(stderr, "satchel bench: %s\n", strerror(errno));
	bench_free(&b);
	return EX_OSERR;
}
