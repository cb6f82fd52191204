/* fuzz-commands.c: hostile client input through the session's line reader
 * and the POP3 command table (commands.c, cmd_auth.c): state and argument
 * checks, message numbers, every handler, in AUTHORIZATION or (first
 * input byte odd) TRANSACTION on a real three-message Maildir. The auth
 * process is absent (its socket is -1), so logins answer [SYS/TEMP].
 * QUIT in TRANSACTION is not dispatched: its UPDATE runs as a store job
 * on the worker's pool, which this harness has not (the dialogues in
 * tests/dialogue cover it).
 *
 * Checked: every dispatched line that does not wait gets a reply, and
 * every reply line starts "+OK", "-ERR" or "+ " and ends with CRLF. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "serve/cmdparse.h"
#include "serve/commands.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "store/maildrop.h"
#include "config/config.h"
#include "util/log.h"

/* on tmpfs when there is one: the store fsyncs, which tmpfs makes free */
static char dir[] = "/dev/shm/satchel-fuzz-commands-XXXXXX";

static char *make_dir(void)
{
	if (mkdtemp(dir) != NULL)
		return dir;
	memcpy(dir, "/tmp/", 5);
	memmove(dir + 5, dir + 9, strlen(dir + 9) + 1);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	return mkdtemp(dir);
}
static struct config cfg;
static struct worker worker;
static struct maildrop_settings drop_set;
/* open across inputs (opening takes the lock, with fsyncs); reopened
 * after an UPDATE closed it */
static struct maildrop *drop;

static void must(int cond)
{
	if (!cond)
		abort();
}

/* (Re)creates the three messages an UPDATE may have removed. */
static void make_maildir(void)
{
	static const char *const msgs[] = {
		"Subject: one\n\nbody\n",
		"Subject: two\n\n.dot\nline\n",
		"Subject: three\n\n",
	};
	char path[128];

	for (int i = 0; i < 3; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/cur/100%d.M1P1.fuzz:2,", dir,
			 i);
		if (access(path, F_OK) == 0)
			continue;
		f = fopen(path, "w");
		if (f == NULL)
			abort();
		fputs(msgs[i], f);
		fclose(f);
	}
}

static int setup(void)
{
	char err[256], path[128];
	const char *log_err;

	if (make_dir() == NULL)
		return -1;
	for (int i = 0; i < 3; i++) {
		static const char *const subs[] = { "new", "cur", "tmp" };

		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if (mkdir(path, 0700) < 0)
			return -1;
	}
	make_maildir();
	config_defaults(&cfg);
	if (config_override(&cfg, "apop=yes", err, sizeof(err)) < 0 ||
	    config_finish(&cfg, err, sizeof(err)) < 0)
		return -1;
	/* log lines of refused logins would drown libFuzzer's output */
	(void)log_init("/dev/null", LOG_LEVEL_ERROR, &log_err);
	worker.cfg = &cfg;
	worker.auth_fd = -1;
	worker.loop = ioloop_create();
	snprintf(worker.hostname, sizeof(worker.hostname), "fuzz.example");
	drop_set.kind = MAILDROP_MAILDIR;
	drop_set.path = dir;
	drop_set.lock_stale_secs = 300;
	return worker.loop != NULL ? 0 : -1;
}

static bool is_quit(const char *line)
{
	struct cmd_args args;
	char copy[16];

	snprintf(copy, sizeof(copy), "%s", line);
	return cmdparse_verb(copy, &args) == 0 &&
	       strcasecmp(args.verb, "QUIT") == 0;
}

static void check_replies(const struct session *s, size_t before)
{
	const char *p = outbuf_head(&s->out) + before;
	const char *end = outbuf_head(&s->out) + outbuf_pending(&s->out);

	/* long replies are not filled here: only the first line is out */
	must(end > p);
	must(strncmp(p, "+OK", 3) == 0 || strncmp(p, "-ERR", 4) == 0 ||
	     strncmp(p, "+ ", 2) == 0);
	must(end - p >= 2 && end[-2] == '\r' && end[-1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct session s;
	const char *error;
	size_t done = 1;

	if (!ready && setup() < 0)
		abort();
	ready = 1;
	if (size == 0)
		return 0;
	memset(&s, 0, sizeof(s));
	s.worker = &worker;
	s.fd = -1;
	s.loopback = true;
	s.state = STATE_AUTHORIZATION;
	s.expire_days = -1;
	snprintf(s.timestamp, sizeof(s.timestamp), "<1.2.3@fuzz.example>");
	linereader_init(&s.in, cfg.max_line);
	if (data[0] & 1) {
		if (drop == NULL) {
			make_maildir();
			if (maildrop_open(&drop_set, &drop, &error) !=
			    MAILDROP_OK)
				abort();
		}
		for (unsigned i = 0; i < maildrop_count(drop); i++) {
			maildrop_msg(drop, i)->deleted = false;
			maildrop_msg(drop, i)->retrieved = false;
		}
		s.drop = drop;
		s.state = STATE_TRANSACTION;
		snprintf(s.user, sizeof(s.user), "fuzz");
	}
	while (done < size && !s.closing && !s.stls_pending) {
		size_t room, n;
		char *dst = linereader_space(&s.in, &room);
		enum line_status status;
		char *line;
		size_t len;

		n = size - done < room ? size - done : room;
		if (n > 0) {
			memcpy(dst, data + done, n);
			linereader_added(&s.in, n);
			done += n;
		}
		while (!s.closing && !s.stls_pending &&
		       (status = linereader_next(&s.in, &line, &len)) !=
		       LINE_NONE) {
			size_t before = outbuf_pending(&s.out);
			enum cmd_outcome outcome = CMD_DONE;

			if (status == LINE_TOO_LONG)
				session_reply(&s, "-ERR line too long");
			else if (s.in.nul_seen)
				session_reply(&s, "-ERR invalid character");
			else if (s.state == STATE_TRANSACTION &&
				 is_quit(line))
				continue;
			else
				outcome = commands_dispatch(&s, line);
			if (outcome != CMD_WAIT)
				check_replies(&s, before);
			s.waiting = false;
			/* a long reply is not run: drop it, keep going */
			maildrop_reader_destroy(&s.reply.reader);
			s.reply.kind = LONG_NONE;
			outbuf_consume(&s.out, outbuf_pending(&s.out));
			if (s.state == STATE_TRANSACTION && s.drop == NULL)
				break; /* QUIT ran UPDATE */
		}
		if (n == 0 || (s.state == STATE_TRANSACTION && s.drop == NULL))
			break;
	}
	if (data[0] & 1)
		drop = s.drop; /* NULL after an UPDATE */
	outbuf_free(&s.out);
	linereader_deinit(&s.in);
	return 0;
}
