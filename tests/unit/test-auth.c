/* test-auth.c: runs auth_process_run() in a child and talks to it over
 * socketpairs like the master and the workers do: logins, APOP,
 * login_delay, sessions per user, reloads, hostile messages, exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth_process.h"
#include "auth/auth_proto.h"
#include "auth/auth_users.h"
#include "config/config.h"
#include "net/fdpass.h"
#include "unit.h"
#include "util/log.h"

/* "secret" hashed with yescrypt (libxcrypt default cost) */
#define YES_SECRET "$y$j9T$yOxY/tNMCtzRgk97OoxYB.$cdSEPw0.tJ" \
		   "OCZ8L8h2srZIapjN8lu93dCOORSaw3OBB"

static char tmpdir[] = "/tmp/test-auth.XXXXXX";
static char passwd_path[256], log_path[256], state_path[256];
static int control_fd = -1;
static pid_t child = -1;
static uint32_t next_id = 1;

static void put(const char *path, const char *text)
{
	char tmp[300];
	FILE *f;

	/* rename into place, the way `satchel user` does */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

static const char users[] =
	"alice:{PLAIN}wonderland:1000:1000::/home/alice::"
	"mail=maildir:~/Maildir\n"
	"bob@example.org:{CRYPT}" YES_SECRET ":1001:1001\n"
	"delayed:{PLAIN}d:1002:1002::::login_delay=3600\n"
	"many:{PLAIN}m:1003:1003\n"
	"root:{PLAIN}r:0:0\n"
	"homeless:{PLAIN}h:1004:1004::::mail=mbox:~/mbox\n"
	"locked:{PLAIN}l:1005:1005::::nologin\n"
	"quota:{PLAIN}q:1006:1006::::quota_bytes=1000 quota_messages=5\n";

static void start(struct config *cfg)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		exit(2);
	fflush(stdout); /* or the child's exit() prints our lines again */
	child = fork();
	if (child == 0) {
		const char *error;
		int ret;

		close(sv[0]);
		if (log_init(log_path, LOG_LEVEL_DEBUG, &error) < 0)
			_exit(99);
		ret = auth_process_run(&cfg->auth, sv[1]);
		/* exit(), not _exit(): lets LeakSanitizer check the child */
		exit(ret);
	}
	close(sv[1]);
	control_fd = sv[0];
}

static int stop(void)
{
	int status;

	close(control_fd);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Gives slot a new worker socket of that kind; returns the worker's
 * end. */
static int attach_kind(uint32_t slot, uint32_t kind)
{
	struct auth_control ctl = { .slot = slot, .kind = kind };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		exit(2);
	if (fdpass_send(control_fd, &ctl, sizeof(ctl), sv[1]) < 0)
		exit(2);
	close(sv[1]);
	return sv[0];
}

static int attach(uint32_t slot)
{
	return attach_kind(slot, AUTH_SLOT_POP3);
}

/* The "secured" flag of the next requests (TLS or loopback). */
static uint8_t req_secured = 1;

static void request(int fd, uint32_t type, const char *user,
		    const char *secret, const char *timestamp, uint32_t *id_r)
{
	struct auth_request req;

	memset(&req, 0, sizeof(req));
	req.type = type;
	req.id = next_id++;
	snprintf(req.user, sizeof(req.user), "%s", user);
	snprintf(req.secret, sizeof(req.secret), "%s", secret);
	snprintf(req.timestamp, sizeof(req.timestamp), "%s",
		 timestamp != NULL ? timestamp : "");
	snprintf(req.client_addr, sizeof(req.client_addr), "192.0.2.7");
	req.secured = req_secured;
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
		exit(2);
	if (id_r != NULL)
		*id_r = req.id;
}

/* Reads one reply within 5 s; result -1 on timeout or a bad reply. */
static int reply(int fd, struct auth_reply *rep)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	do {
		if (poll(&pfd, 1, 5000) != 1)
			return -1;
		n = recv(fd, rep, sizeof(*rep), 0);
		/* the fixed header plus data_len octets of data */
		if (n < (ssize_t)AUTH_REPLY_HDR ||
		    rep->data_len > AUTH_SASL_OUT_MAX ||
		    (size_t)n != AUTH_REPLY_HDR + rep->data_len)
			return -1;
		/* the unsolicited hello of a new worker socket */
	} while (rep->id == 0 && rep->result == AUTH_HELLO);
	return (int)rep->result;
}

static int login(int fd, uint32_t type, const char *user,
		 const char *secret, const char *timestamp,
		 struct auth_reply *rep)
{
	struct auth_reply dummy;
	uint32_t id;
	int ret;

	if (rep == NULL)
		rep = &dummy;
	request(fd, type, user, secret, timestamp, &id);
	ret = reply(fd, rep);
	return ret >= 0 && rep->id == id ? ret : -1;
}

static void logout(int fd, const char *user)
{
	request(fd, AUTH_REQ_LOGOUT, user, "", NULL, NULL);
}

static bool no_reply(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

static void test_logins(int w)
{
	struct auth_reply rep;

	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, &rep) ==
	      AUTH_OK, "PASS right");
	/* the worker opened the maildrop: now it is a login */
	request(w, AUTH_REQ_LOGIN_DONE, "alice", "", NULL, NULL);
	logout(w, "alice");
	CHECK_STR(rep.user, "alice", "canonical user");
	CHECK_STR(rep.mail_path, "/home/alice/Maildir", "mail= with ~");
	CHECK(rep.mail_kind == MAILDROP_MAILDIR && rep.uid == 1000 &&
	      rep.gid == 1000 && rep.expire_days == -1 &&
	      rep.login_delay == -1, "reply fields");
	CHECK(login(w, AUTH_REQ_PASS, "alice", "Wonderland", NULL, &rep) ==
	      AUTH_FAILED, "PASS wrong");
	CHECK(rep.user[0] == '\0' && rep.mail_path[0] == '\0',
	      "failure reply carries nothing");
	CHECK(login(w, AUTH_REQ_PASS, "nobody", "wonderland", NULL, NULL) ==
	      AUTH_FAILED, "unknown user");
	CHECK(login(w, AUTH_REQ_PASS, "alice", "", NULL, NULL) ==
	      AUTH_FAILED, "empty password");
	CHECK(login(w, AUTH_REQ_PASS, "../alice", "wonderland", NULL,
		    NULL) == AUTH_FAILED, "path-like user");
	CHECK(login(w, AUTH_REQ_PASS, "bob@example.org", "secret", NULL,
		    &rep) == AUTH_OK, "yescrypt user");
	CHECK_STR(rep.mail_path, "/var/mail/vhosts/example.org/bob",
		  "global pattern %d/%n");
	CHECK(login(w, AUTH_REQ_PASS, "bob@example.org", "secreT", NULL,
		    NULL) == AUTH_FAILED, "yescrypt wrong");
	CHECK(login(w, AUTH_REQ_PASS, "root", "r", NULL, NULL) ==
	      AUTH_PERMFAIL, "uid 0 refused");
	CHECK(login(w, AUTH_REQ_PASS, "homeless", "h", NULL, NULL) ==
	      AUTH_PERMFAIL, "~ without home");
	CHECK(login(w, AUTH_REQ_PASS, "locked", "l", NULL, NULL) ==
	      AUTH_FAILED, "nologin");
}

/* AUTH_REQ_USERDB (LMTP): the record with no secret; unknown users
 * FAILED; no session counted, no LOGIN-DELAY started or checked. */
static void test_userdb(int pop3)
{
	struct auth_reply rep;
	int i, fails = 0, w = attach_kind(5, AUTH_SLOT_LMTP);

	/* each kind of worker does its own kind of request only */
	CHECK(login(pop3, AUTH_REQ_USERDB, "alice", "", NULL, &rep) ==
	      AUTH_PERMFAIL && rep.user[0] == '\0',
	      "userdb refused on a POP3 worker's socket");
	CHECK(login(w, AUTH_REQ_APOP, "alice", "c4c9334bac560ecc979e58001b3"
		    "e22fb", "<1.2@x>", NULL) == AUTH_PERMFAIL,
	      "APOP refused on an LMTP worker's socket");
	/* an MTA's AUTH PLAIN on a remote LMTP session, after STARTTLS */
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, &rep) ==
	      AUTH_OK && strcmp(rep.user, "alice") == 0 &&
	      rep.mail_path[0] == '\0',
	      "PASS on an LMTP worker's socket: the canonical name only");
	CHECK(login(w, AUTH_REQ_PASS, "root", "r", NULL, &rep) == AUTH_OK,
	      "PASS on an LMTP worker's socket: an account that receives no "
	      "mail (uid 0 here) may still authenticate an MTA");
	CHECK(login(w, AUTH_REQ_PASS, "alice", "Wonderland", NULL, &rep) ==
	      AUTH_FAILED && rep.user[0] == '\0',
	      "PASS on an LMTP worker's socket: wrong password");
	req_secured = 0;
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_FAILED, "PASS on an LMTP worker's socket without TLS "
	      "refused (plaintext_auth does not apply)");
	req_secured = 1;
	{
		static struct auth_sasl_request sreq;
		size_t len = AUTH_SASL_REQUEST_HDR + 7;

		memset(&sreq, 0, sizeof(sreq));
		sreq.type = AUTH_REQ_SASL_START;
		sreq.id = next_id++;
		snprintf(sreq.mech, sizeof(sreq.mech), "PLAIN");
		sreq.has_data = 1;
		sreq.secured = 1;
		sreq.data_len = 7;
		memcpy(sreq.data, "\0a\0b\0cd", 7);
		CHECK(send(w, &sreq, len, 0) == (ssize_t)len &&
		      reply(w, &rep) == AUTH_PERMFAIL && rep.id == sreq.id,
		      "SASL refused on an LMTP worker's socket");
	}

	CHECK(login(w, AUTH_REQ_USERDB, "alice", "", NULL, &rep) == AUTH_OK,
	      "userdb: alice");
	CHECK_STR(rep.user, "alice", "userdb: canonical user");
	CHECK_STR(rep.mail_path, "/home/alice/Maildir", "userdb: mail path");
	CHECK(rep.mail_kind == MAILDROP_MAILDIR && rep.uid == 1000 &&
	      rep.gid == 1000 && rep.quota_bytes == -1 &&
	      rep.quota_messages == -1, "userdb: record, no own quota");
	CHECK(login(w, AUTH_REQ_USERDB, "alice@example.net", "", NULL,
		    &rep) == AUTH_OK && strcmp(rep.user, "alice") == 0,
	      "userdb: an address finds its local part");
	CHECK(login(w, AUTH_REQ_USERDB, "bob@example.org", "", NULL, &rep) ==
	      AUTH_OK && strcmp(rep.mail_path,
				"/var/mail/vhosts/example.org/bob") == 0,
	      "userdb: full address user");
	CHECK(login(w, AUTH_REQ_USERDB, "quota", "", NULL, &rep) == AUTH_OK &&
	      rep.quota_bytes == 1000 && rep.quota_messages == 5,
	      "userdb: per-user quota from the passwd-file");
	CHECK(login(w, AUTH_REQ_USERDB, "nobody@example.org", "", NULL,
		    &rep) == AUTH_FAILED && rep.user[0] == '\0' &&
	      rep.mail_path[0] == '\0', "userdb: unknown user FAILED");
	CHECK(login(w, AUTH_REQ_USERDB, "../alice", "", NULL, NULL) ==
	      AUTH_FAILED, "userdb: path-like user");
	CHECK(login(w, AUTH_REQ_USERDB, "root", "", NULL, NULL) ==
	      AUTH_PERMFAIL, "userdb: uid 0 refused");
	CHECK(login(w, AUTH_REQ_USERDB, "locked", "", NULL, NULL) == AUTH_OK,
	      "userdb: a nologin account still receives mail");
	/* "delayed" has login_delay=3600 and "many" may have two sessions:
	 * lookups are neither logins nor sessions */
	for (i = 0; i < 5; i++) {
		fails += login(w, AUTH_REQ_USERDB, "delayed", "", NULL, NULL) !=
			 AUTH_OK;
		fails += login(w, AUTH_REQ_USERDB, "many", "", NULL, NULL) !=
			 AUTH_OK;
	}
	CHECK(fails == 0, "userdb: repeated lookups answered");
	for (i = 0, fails = 0; i < 5; i++) {
		fails += login(w, AUTH_REQ_PASS, "delayed", "d", NULL, NULL) !=
			 AUTH_OK;
		fails += login(w, AUTH_REQ_PASS, "many", "m", NULL, NULL) !=
			 AUTH_OK;
	}
	CHECK(fails == 0, "LMTP PASS: no LOGIN-DELAY, no session counted");
	CHECK(strstr(slurp(log_path), "login: user=delayed") == NULL,
	      "userdb: no login logged");
	close(w);
}

static void test_apop(int w)
{
	static const char ts[] = "<1896.697170952@dbc.mtview.ca.us>";
	char plain[] = "tanstaaf:{PLAIN}tanstaaf:2000:2000\n";
	char text[sizeof(users) + sizeof(plain)];
	struct auth_reply rep;

	snprintf(text, sizeof(text), "%s%s", users, plain);
	put(passwd_path, text);
	CHECK(login(w, AUTH_REQ_APOP, "tanstaaf", "c4c9334bac560ecc979e5800"
		    "1b3e22fb", ts, &rep) == AUTH_OK,
	      "APOP RFC 1939 (file reloaded on change)");
	CHECK(login(w, AUTH_REQ_APOP, "tanstaaf", "C4C9334BAC560ECC979E5800"
		    "1B3E22FB", ts, NULL) == AUTH_OK, "APOP upper case");
	CHECK(login(w, AUTH_REQ_APOP, "tanstaaf", "c4c9334bac560ecc979e5800"
		    "1b3e22fc", ts, NULL) == AUTH_FAILED, "APOP wrong");
	CHECK(login(w, AUTH_REQ_APOP, "tanstaaf", "c4c9334bac560ecc979e5800"
		    "1b3e22fb", "", NULL) == AUTH_FAILED, "APOP no timestamp");
	CHECK(login(w, AUTH_REQ_APOP, "bob@example.org", "c4c9334bac560ecc9"
		    "79e58001b3e22fb", ts, NULL) == AUTH_FAILED,
	      "APOP impossible for a hashed secret");
	CHECK(login(w, AUTH_REQ_APOP, "ghost", "c4c9334bac560ecc979e58001b3"
		    "e22fb", ts, NULL) == AUTH_FAILED, "APOP unknown user");
}

static void test_delay_and_sessions(int w, int w2)
{
	struct auth_reply rep;

	CHECK(login(w, AUTH_REQ_PASS, "delayed", "d", NULL, &rep) ==
	      AUTH_OK && rep.login_delay == 3600, "first login");
	/* its maildrop did not open (the worker sends no LOGIN_DONE and
	 * gives the session back): it does not start the delay */
	logout(w, "delayed");
	CHECK(login(w, AUTH_REQ_PASS, "delayed", "d", NULL, NULL) == AUTH_OK,
	      "a login that never reached TRANSACTION starts no delay");
	request(w, AUTH_REQ_LOGIN_DONE, "delayed", "", NULL, NULL);
	CHECK(no_reply(w, 100), "no reply to LOGIN_DONE");
	CHECK(login(w, AUTH_REQ_PASS, "delayed", "x", NULL, NULL) ==
	      AUTH_FAILED, "wrong password inside the delay: FAILED");
	CHECK(login(w, AUTH_REQ_PASS, "delayed", "d", NULL, NULL) ==
	      AUTH_LOGIN_DELAY, "second login too soon");
	usleep(300 * 1000);
	CHECK(strstr(slurp(state_path), "delayed\t") != NULL,
	      "last login persisted");
	CHECK(strstr(slurp(state_path), "alice") == NULL,
	      "users without a delay are not persisted");

	/* max_sessions_per_user = 2 */
	CHECK(login(w, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK &&
	      login(w2, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "two sessions");
	CHECK(login(w, AUTH_REQ_PASS, "many", "m", NULL, NULL) ==
	      AUTH_TOO_MANY, "third refused");
	CHECK(login(w, AUTH_REQ_PASS, "many", "bad", NULL, NULL) ==
	      AUTH_FAILED, "wrong password still FAILED");
	request(w, AUTH_REQ_LOGOUT, "many", "", NULL, NULL);
	CHECK(no_reply(w, 100), "no reply to LOGOUT");
	CHECK(login(w, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "a logout frees a session");
	/* logouts beyond the count must not wrap it */
	request(w2, AUTH_REQ_LOGOUT, "many", "", NULL, NULL);
	request(w2, AUTH_REQ_LOGOUT, "many", "", NULL, NULL);
	request(w2, AUTH_REQ_LOGOUT, "many", "", NULL, NULL);
	CHECK(login(w2, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "after extra logouts: 2nd session");
	CHECK(login(w2, AUTH_REQ_PASS, "many", "m", NULL, NULL) ==
	      AUTH_TOO_MANY, "extra logouts did not wrap the counter");
}

static void test_hostile(int w)
{
	unsigned char junk[sizeof(struct auth_request) + 10];
	struct auth_request req;

	memset(junk, 'A', sizeof(junk));
	CHECK(send(w, junk, 10, 0) == 10 && no_reply(w, 100),
	      "short message dropped");
	CHECK(send(w, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk) &&
	      no_reply(w, 100), "long message dropped");
	/* a full-size request with no NUL anywhere */
	memcpy(&req, junk, sizeof(req));
	req.type = AUTH_REQ_PASS;
	req.id = 4242;
	CHECK(send(w, &req, sizeof(req), 0) == (ssize_t)sizeof(req),
	      "unterminated request sent");
	{
		struct auth_reply rep;

		CHECK(reply(w, &rep) == AUTH_FAILED && rep.id == 4242,
		      "unterminated strings: FAILED, id echoed");
	}
	req.type = 77;
	req.id = 4343;
	send(w, &req, sizeof(req), 0);
	{
		struct auth_reply rep;

		CHECK(reply(w, &rep) == AUTH_PERMFAIL && rep.id == 4343,
		      "unknown type: PERMFAIL");
	}
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_OK, "still serving after junk");
	logout(w, "alice");
}

static void test_reload(int w)
{
	struct stat st;
	struct timespec times[2];
	FILE *f;
	char text[sizeof(users) + 64];

	/* a broken file keeps the old users */
	put(passwd_path, "alice:{PLAIN}x\nalice:{PLAIN}y\n");
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_OK, "failed reload keeps the old users");
	logout(w, "alice");
	/* SIGHUP reloads even when size, inode and mtime look the same */
	snprintf(text, sizeof(text), "%s", users);
	put(passwd_path, text);
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_OK, "good file back");
	logout(w, "alice");
	stat(passwd_path, &st);
	memcpy(strstr(text, "wonderland"), "WONDERLAND", 10);
	f = fopen(passwd_path, "r+");
	fputs(text, f);
	fclose(f);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	utimensat(AT_FDCWD, passwd_path, times, 0);
	CHECK(login(w, AUTH_REQ_PASS, "alice", "WONDERLAND", NULL, NULL) ==
	      AUTH_FAILED, "unchanged stat: not reloaded");
	kill(child, SIGHUP);
	usleep(200 * 1000);
	CHECK(login(w, AUTH_REQ_PASS, "alice", "WONDERLAND", NULL, NULL) ==
	      AUTH_OK, "SIGHUP reloads");
}

static void test_slots(int w2)
{
	int a = attach(5), b;

	/* "many" holds one session on slot 1 and one on slot 2 */
	logout(w2, "many");
	CHECK(login(a, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "slot 5 login");
	CHECK(login(a, AUTH_REQ_PASS, "many", "m", NULL, NULL) ==
	      AUTH_TOO_MANY, "slot 5: at the limit");
	/* a new socket for slot 5 forgets the old socket's session */
	b = attach(5);
	CHECK(reply(a, &(struct auth_reply){ 0 }) == -1,
	      "old slot 5 socket closed");
	close(a);
	CHECK(login(b, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "replaced slot: its sessions forgotten");
	CHECK(login(b, AUTH_REQ_PASS, "many", "m", NULL, NULL) ==
	      AUTH_TOO_MANY, "new slot 5 counts again");
	/* EOF on a worker socket forgets too */
	close(b);
	usleep(100 * 1000);
	b = attach(6);
	CHECK(login(b, AUTH_REQ_PASS, "many", "m", NULL, NULL) == AUTH_OK,
	      "closed slot: its sessions forgotten");
	close(b);
	{
		struct auth_control bad = { .slot = 256 };
		int sv[2];

		socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
		fdpass_send(control_fd, &bad, sizeof(bad), sv[1]);
		close(sv[1]);
		CHECK(reply(sv[0], &(struct auth_reply){ 0 }) == -1,
		      "slot 256 refused, socket closed");
		close(sv[0]);
	}
}

static void test_tempfail(struct config *cfg)
{
	int w, ret;

	snprintf(cfg->auth.passwd_file, sizeof(cfg->auth.passwd_file), "%s/none",
		 tmpdir);
	if (snprintf(cfg->auth.users, sizeof(cfg->auth.users), "passwd-file:%s",
		     cfg->auth.passwd_file) >= (int)sizeof(cfg->auth.users))
		exit(2);
	start(cfg);
	w = attach(0);
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_TEMPFAIL, "no database: TEMPFAIL");
	put(cfg->auth.passwd_file, users);
	CHECK(login(w, AUTH_REQ_PASS, "alice", "wonderland", NULL, NULL) ==
	      AUTH_OK, "database appears: served");
	close(w);
	ret = stop();
	CHECK(ret == 0, "second run exits 0");
	unlink(cfg->auth.passwd_file);
}

static int delay_60(void *context, const char *name)
{
	return 60;
}

/* Two auth processes (old and new generation during a reload) write the
 * last-login state at the same moment: every write succeeds, the file is
 * always one whole version, and no temporary file is left behind. */
static void test_state_concurrent(void)
{
	char dir[300], path[600], line[256];
	pid_t kids[2];
	int status, failed = 0, bad = 0, others = 0;
	struct dirent *d;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/state2", tmpdir);
	mkdir(dir, 0700);
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct auth_users table = { 0 };
			struct auth_user *u;
			int fails = 0;

			u = auth_users_get(&table, k == 0 ? "alice" : "bob");
			if (u == NULL)
				_exit(3);
			u->last_login = time(NULL);
			for (int i = 0; i < 300; i++)
				fails += auth_users_save_state(&table, dir,
							       time(NULL),
							       delay_60,
							       NULL) < 0;
			auth_users_free(&table);
			_exit(fails > 0 ? 1 : 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		if (waitpid(kids[k], &status, 0) != kids[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	CHECK(failed == 0, "concurrent state writes all succeed");
	snprintf(path, sizeof(path), "%s/last-login", dir);
	{
		FILE *f = fopen(path, "r");
		int n = 0;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			n++;
			if ((strncmp(line, "alice\t", 6) != 0 &&
			     strncmp(line, "bob\t", 4) != 0) ||
			    strchr(line, '\n') == NULL)
				bad++;
		}
		if (f != NULL)
			fclose(f);
		CHECK(f != NULL && n == 1 && bad == 0,
		      "the state file is one whole version");
	}
	dh = opendir(dir);
	while (dh != NULL && (d = readdir(dh)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (strcmp(d->d_name, "last-login") != 0)
			others++;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	if (dh != NULL)
		closedir(dh);
	rmdir(dir);
	CHECK(others == 0, "no temporary file left behind");
}

int main(void)
{
	struct config cfg;
	int w, w2, ret;

	if (mkdtemp(tmpdir) == NULL)
		return 2;
	snprintf(passwd_path, sizeof(passwd_path), "%s/passwd", tmpdir);
	snprintf(log_path, sizeof(log_path), "%s/log", tmpdir);
	snprintf(state_path, sizeof(state_path), "%s/last-login", tmpdir);
	put(passwd_path, users);

	config_defaults(&cfg);
	snprintf(cfg.auth.passwd_file, sizeof(cfg.auth.passwd_file), "%s", passwd_path);
	if (snprintf(cfg.auth.users, sizeof(cfg.auth.users), "passwd-file:%s",
		     cfg.auth.passwd_file) >= (int)sizeof(cfg.auth.users))
		exit(2);
	snprintf(cfg.auth.state_dir, sizeof(cfg.auth.state_dir), "%s", tmpdir);
	cfg.auth.apop = true;
	cfg.auth.max_sessions_per_user = 2;
	cfg.auth.login_delay = 0;
	cfg.auth.mail_kind = MAILDROP_MAILDIR;
	snprintf(cfg.auth.mail_pattern, sizeof(cfg.auth.mail_pattern),
		 "/var/mail/vhosts/%%d/%%n");

	start(&cfg);
	w = attach(1);
	w2 = attach(2);
	test_logins(w);
	test_userdb(w);
	test_apop(w);
	test_delay_and_sessions(w, w2);
	test_hostile(w);
	test_reload(w);
	test_slots(w2);

	/* a restarted auth process remembers the last login */
	close(w);
	close(w2);
	ret = stop();
	CHECK(ret == 0, "EOF on the control socket: exit 0");
	CHECK(strstr(slurp(log_path), "auth failed: user=nobody "
		     "rip=192.0.2.7") != NULL, "failure logged");
	CHECK(strstr(slurp(log_path), "login: user=alice rip=192.0.2.7") !=
	      NULL, "success logged");
	CHECK(strstr(slurp(log_path), "wonderland") == NULL &&
	      strstr(slurp(log_path), "WONDERLAND") == NULL,
	      "no password in the log");
	CHECK(strstr(slurp(log_path), "user=AAAA") != NULL &&
	      strstr(slurp(log_path), "\001") == NULL,
	      "hostile user name logged sanitized");
	put(passwd_path, users);
	start(&cfg);
	w = attach(0);
	CHECK(login(w, AUTH_REQ_PASS, "delayed", "d", NULL, NULL) ==
	      AUTH_LOGIN_DELAY, "login delay survives a restart");
	close(w);
	CHECK(stop() == 0, "exit 0 again");

	test_tempfail(&cfg);
	test_state_concurrent();

	if (getenv("TEST_AUTH_KEEP") == NULL) {
		char path[300];
		const char *names[] = { "passwd", "log", "last-login",
					"scram-salt-key" };

		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
				 names[i]);
			unlink(path);
		}
		rmdir(tmpdir);
	} else {
		printf("# kept %s\n", tmpdir);
	}
	return unit_done();
}
