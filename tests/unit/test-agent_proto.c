/* test-agent_proto.c: the mail agent protocol (store/agent_proto.h):
 * the codec's checks of every message kind, then a real agent
 * (agent_serve in a child) behind the remote maildrop driver on a
 * socketpair over a temporary Maildir: open, sizes and UIDLs, a
 * message's descriptor, DELE and commit; an agent killed mid-session
 * and one that answers out of turn give MAILDROP_TEMP and change
 * nothing; a peer that does not answer costs at most the loop's
 * timeout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/agent.h"
#include "store/agent_proto.h"
#include "unit.h"

static void test_requests(void)
{
	struct agent_open o = { 0 };
	struct agent_index ix = { 0 };
	struct agent_flags f;
	struct agent_hdr c;
	struct maildrop_msg msgs[3];

	agent_proto_hdr(&o.hdr, AGENT_REQ_OPEN, sizeof(o));
	CHECK(agent_proto_check_request(&o, sizeof(o)) == AGENT_REQ_OPEN,
	      "OPEN accepted");
	CHECK(agent_proto_check_request(&o, sizeof(o) - 1) == 0,
	      "OPEN one octet short refused");
	CHECK(agent_proto_check_request(&o, sizeof(o) + 1) == 0,
	      "OPEN with a length past its header's refused");
	agent_proto_hdr(&ix.hdr, AGENT_REQ_READER, sizeof(ix));
	CHECK(agent_proto_check_request(&ix, sizeof(ix)) == AGENT_REQ_READER,
	      "READER accepted");
	agent_proto_hdr(&c, AGENT_REQ_COMMIT, sizeof(c));
	CHECK(agent_proto_check_request(&c, sizeof(c)) == AGENT_REQ_COMMIT,
	      "COMMIT accepted");
	c.type = 99;
	CHECK(agent_proto_check_request(&c, sizeof(c)) == 0,
	      "an unknown type refused");
	c.type = AGENT_REP_OPENED;
	CHECK(agent_proto_check_request(&c, sizeof(c)) == 0,
	      "a reply type as a request refused");
	CHECK(agent_proto_check_request(&c, 3) == 0, "a short header refused");

	memset(&f, 0, sizeof(f));
	f.first = 1;
	f.flags[0] = AGENT_FLAG_DELETED;
	f.flags[1] = AGENT_FLAG_RETRIEVED;
	agent_proto_flags_len(&f, 2);
	CHECK(agent_proto_check_request(&f, agent_proto_len(&f.hdr)) ==
	      AGENT_REQ_FLAGS, "FLAGS of 2 accepted");
	f.n = 3;
	CHECK(agent_proto_check_request(&f, agent_proto_len(&f.hdr)) == 0,
	      "FLAGS whose n disagrees with its length refused");
	f.n = 2;
	memset(msgs, 0, sizeof(msgs));
	CHECK(agent_proto_apply_flags(&f, msgs, 3) == 0 && !msgs[0].deleted &&
	      msgs[1].deleted && !msgs[1].retrieved && msgs[2].retrieved,
	      "FLAGS applied to messages 2 and 3");
	CHECK(agent_proto_apply_flags(&f, msgs, 2) < 0,
	      "FLAGS past the snapshot refused");
	f.first = 0xffffffffu;
	CHECK(agent_proto_apply_flags(&f, msgs, 3) < 0,
	      "FLAGS whose first + n overflows refused");
	agent_proto_flags_len(&f, 0);
	f.first = 0;
	CHECK(agent_proto_apply_flags(&f, NULL, 0) == 0,
	      "an empty run on an empty snapshot");
}

static void test_replies(void)
{
	struct agent_result r;
	static struct agent_msgs m;

	memset(&r, 'x', sizeof(r));
	agent_proto_hdr(&r.hdr, AGENT_REP_OPENED, sizeof(r));
	r.ret = MAILDROP_IN_USE;
	CHECK(agent_proto_check_reply(&r, sizeof(r), AGENT_REP_OPENED, 0, 0) &&
	      strlen(r.error) == sizeof(r.error) - 1,
	      "OPENED accepted, its error NUL-terminated");
	CHECK(!agent_proto_check_reply(&r, sizeof(r), AGENT_REP_COMMITTED, 0,
				       0), "a reply of another type refused");
	r.ret = 7;
	CHECK(!agent_proto_check_reply(&r, sizeof(r), AGENT_REP_OPENED, 0, 0),
	      "a ret that is no maildrop error refused");

	memset(&m, 0, sizeof(m));
	m.first = 2;
	m.e[0].size = 10;
	strcpy(m.e[0].uidl, "abc");
	strcpy(m.e[1].uidl, "def");
	agent_proto_msgs_len(&m, 2);
	CHECK(agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				      AGENT_REP_MSGS, 2, 4),
	      "MSGS 3-4 of 4 accepted");
	CHECK(!agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				       AGENT_REP_MSGS, 0, 4),
	      "MSGS out of order refused");
	CHECK(!agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				       AGENT_REP_MSGS, 2, 3),
	      "MSGS past the count refused");
	strcpy(m.e[1].uidl, "has space");
	CHECK(!agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				       AGENT_REP_MSGS, 2, 4),
	      "a UIDL with a space refused");
	memset(m.e[1].uidl, 'u', sizeof(m.e[1].uidl));
	CHECK(agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				      AGENT_REP_MSGS, 2, 4) &&
	      strlen(m.e[1].uidl) == MAILDROP_UIDL_MAX,
	      "an unterminated UIDL cut at 70 octets");
	m.e[1].uidl[0] = '\0';
	CHECK(!agent_proto_check_reply(&m, agent_proto_len(&m.hdr),
				       AGENT_REP_MSGS, 2, 4),
	      "an empty UIDL refused");
}

/* --- a real agent on a temporary Maildir --- */

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/new/%s", dir, name);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static int count_files(void)
{
	char cmd[512], buf[32] = "";
	FILE *p;

	/* names only: the directory's own random name may hold an M */
	snprintf(cmd, sizeof(cmd), "find %s/new %s/cur -type f -printf '%%f\\n' "
		 "| grep -c M", dir, dir);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), p) == NULL)
		buf[0] = '\0';
	pclose(p);
	return atoi(buf);
}

static pid_t start_agent(int *fd_r)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR, .path = dir, .lock_stale_secs = 30,
		.create = true, .agent_fd = -1,
	};
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pair[0]);
		_exit(agent_serve(pair[1], &set));
	}
	close(pair[1]);
	*fd_r = pair[0];
	return pid;
}

static struct maildrop *open_remote(int fd, int *ret_r)
{
	struct maildrop_settings set = { .kind = MAILDROP_AGENT,
					 .agent_fd = fd };
	struct maildrop *drop = NULL;
	const char *error = NULL;

	*ret_r = maildrop_open(&set, &drop, &error);
	return drop;
}

static void test_agent(void)
{
	struct maildrop_reader *reader = NULL;
	struct maildrop *drop;
	const char *error = NULL;
	char buf[256];
	unsigned deleted = 99;
	ssize_t n;
	pid_t pid;
	int fd, ret, status;

	snprintf(dir, sizeof(dir), "/tmp/satchel-agent-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(buf, sizeof(buf), "%s/new", dir);
	mkdir(buf, 0700);
	snprintf(buf, sizeof(buf), "%s/cur", dir);
	mkdir(buf, 0700);
	snprintf(buf, sizeof(buf), "%s/tmp", dir);
	mkdir(buf, 0700);
	put("1000.M1P1.h", "Subject: one\n\nfirst\n");
	put("1001.M2P1.h", "Subject: two\n\nsecond\n");

	pid = start_agent(&fd);
	drop = open_remote(fd, &ret);
	CHECK(ret == MAILDROP_OK && drop != NULL, "the remote open");
	if (drop == NULL)
		return;
	CHECK(maildrop_count(drop) == 2, "two messages");
	CHECK(maildrop_msg(drop, 0)->size == strlen("Subject: one\n\nfirst\n")
	      + 3, "the first size (CRLF)");
	CHECK_STR(maildrop_msg(drop, 1)->uidl, "1001.M2P1.h", "the UIDL");
	CHECK(maildrop_reader_open(drop, 1, &reader, &error) == MAILDROP_OK,
	      "a reader of message 2");
	n = reader != NULL ? maildrop_reader_read(reader, buf, sizeof(buf) - 1)
			   : -1;
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "Subject: two\n\nsecond\n", "message 2 as stored");
	maildrop_reader_destroy(&reader);
	CHECK(maildrop_reader_open(drop, 5, &reader, &error) != MAILDROP_OK,
	      "no message 6");
	CHECK(maildrop_refresh_lock(drop) == MAILDROP_OK, "the agent is alive");
	maildrop_msg(drop, 0)->deleted = true;
	ret = maildrop_commit(&drop, &deleted, &error);
	CHECK(ret == MAILDROP_OK && deleted == 1, "commit removes one");
	CHECK(count_files() == 1, "one file left");
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "the agent exits after the commit");

	/* killed mid-session: TEMP, nothing deleted */
	pid = start_agent(&fd);
	drop = open_remote(fd, &ret);
	CHECK(ret == MAILDROP_OK && drop != NULL && maildrop_count(drop) == 1,
	      "a second session");
	if (drop == NULL)
		return;
	maildrop_msg(drop, 0)->deleted = true;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(maildrop_refresh_lock(drop) == MAILDROP_TEMP,
	      "a dead agent seen at the lock refresh");
	CHECK(maildrop_reader_open(drop, 0, &reader, &error) == MAILDROP_TEMP,
	      "a dead agent's reader: TEMP");
	ret = maildrop_commit(&drop, &deleted, &error);
	CHECK(ret == MAILDROP_TEMP && deleted == 0, "a dead agent's commit");
	CHECK(count_files() == 1, "nothing deleted");

	/* a dropped session: the agent exits, nothing changes */
	pid = start_agent(&fd);
	drop = open_remote(fd, &ret);
	if (drop != NULL)
		maildrop_msg(drop, 0)->deleted = true;
	maildrop_close(&drop);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "the agent exits when closed");
	CHECK(count_files() == 1, "a close deletes nothing");
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	if (system(buf) != 0)
		CHECK(0, "removing the temporary Maildir");
}

/* A peer that is no agent: silent, or out of turn. */
static void test_bad_peer(void)
{
	struct maildrop_reader *reader = NULL;
	struct maildrop *drop;
	struct agent_result r;
	static struct agent_msgs m;
	const char *error = NULL;
	int pair[2], ret;
	struct timespec t0, t1;
	double secs;

	/* silent after the open: a reader costs at most the loop timeout */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) < 0)
		return;
	memset(&r, 0, sizeof(r));
	agent_proto_hdr(&r.hdr, AGENT_REP_OPENED, sizeof(r));
	r.count = 1;
	(void)send(pair[1], &r, sizeof(r), 0);
	memset(&m, 0, sizeof(m));
	strcpy(m.e[0].uidl, "x1");
	agent_proto_msgs_len(&m, 1);
	(void)send(pair[1], &m, agent_proto_len(&m.hdr), 0);
	drop = open_remote(pair[0], &ret);
	CHECK(ret == MAILDROP_OK && drop != NULL && maildrop_count(drop) == 1,
	      "a remote open of one message");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = drop != NULL ? maildrop_reader_open(drop, 0, &reader, &error) :
	      -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(ret == MAILDROP_TEMP && secs > 1.5 && secs < 3,
	      "a silent agent: the reader gets TEMP after the loop's timeout");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = drop != NULL ? maildrop_reader_open(drop, 0, &reader, &error) :
	      -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(ret == MAILDROP_TEMP && t1.tv_sec - t0.tv_sec < 1,
	      "then every call fails at once (the maildrop is dead)");
	maildrop_close(&drop);
	close(pair[1]);

	/* an answer of the wrong kind */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) < 0)
		return;
	agent_proto_hdr(&r.hdr, AGENT_REP_COMMITTED, sizeof(r));
	(void)send(pair[1], &r, sizeof(r), 0);
	drop = open_remote(pair[0], &ret);
	CHECK(ret == MAILDROP_TEMP && drop == NULL,
	      "an out-of-turn answer to OPEN: TEMP");
	close(pair[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_requests();
	test_replies();
	test_agent();
	test_bad_peer();
	return unit_done();
}
