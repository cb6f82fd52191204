/* test-node.c: node heartbeats and the session lock on a shared store:
 * the owner line, a peer's lock taken over when its heartbeat is old or
 * names another instance, respected while it is fresh, and a node whose
 * own heartbeat is late fenced off (its refresh fails). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/lock.h"
#include "store/lockowner.h"
#include "store/node.h"
#include "unit.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

static void age(const char *path, time_t secs)
{
	struct timespec t[2];

	t[0].tv_sec = t[1].tv_sec = time(NULL) - secs;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	utimensat(AT_FDCWD, path, t, 0);
}

static void test_owner_line(void)
{
	struct lock_owner o, p;
	char buf[LOCKOWNER_LINE_MAX];

	lockowner_self(&o, "0123456789abcdef0123456789abcdef");
	CHECK(lockowner_format(&o, buf, sizeof(buf)) > 0, "format an owner");
	CHECK(lockowner_parse(buf, &p) == 0 && strcmp(p.node, o.node) == 0 &&
	      strcmp(p.token, o.token) == 0 && p.pid == o.pid &&
	      strcmp(p.instance, o.instance) == 0, "owner line round trip");
	CHECK(lockowner_parse("old.example 1234 1700000000\n", &p) == 0 &&
	      strcmp(p.node, "old.example") == 0 && p.pid == 1234 &&
	      strcmp(p.boot, "-") == 0 && strcmp(p.token, "-") == 0,
	      "the older host pid time line parses");
	CHECK(lockowner_parse("a b c 12 t 1 extra\n", &p) < 0,
	      "seven fields: not a lock line");
	CHECK(lockowner_parse("a b c x t 1\n", &p) < 0, "pid not a number");
	CHECK(lockowner_parse("a b c 1 t 1\n", &p) < 0, "pid 1 refused");
	CHECK(lockowner_parse("", &p) < 0, "empty: not a lock line");
	CHECK(lockowner_parse("a  b c 12 t 1\n", &p) < 0, "empty field");
}

int main(void)
{
	char dir[] = "/tmp/satchel-node-XXXXXX", hbdir[300], path[300];
	char peer_hb[400], own_hb[400], text[512];
	struct node_settings set = { .node_id = "node-a",
				     .heartbeat_timeout = 3, .beats = true };
	struct lock_file *a = NULL, *b = NULL;
	const char *error = NULL;
	char boot[NODE_BOOT_MAX + 1];

	test_owner_line();
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(hbdir, sizeof(hbdir), "%s/nodes", dir);
	snprintf(path, sizeof(path), "%s/satchel.lock", dir);
	snprintf(peer_hb, sizeof(peer_hb), "%s/node-b", hbdir);
	snprintf(own_hb, sizeof(own_hb), "%s/node-a", hbdir);
	set.heartbeat_dir = hbdir;

	set.node_id = "bad/id";
	CHECK(node_init(&set, &error) < 0, "a node_id with '/' is refused");
	set.node_id = "node-a";
	CHECK(node_init(&set, &error) == 0, "node_init with heartbeats");
	CHECK(node_heartbeat_beat(&error) == 0 && access(own_hb, F_OK) == 0,
	      "the first beat writes the heartbeat file");
	CHECK(node_heartbeat_beat(&error) == 0, "a second beat touches it");
	CHECK(strcmp(node_id(), "node-a") == 0, "node_id as configured");
	snprintf(boot, sizeof(boot), "%s", node_boot_id());

	/* a live peer: its lock is respected */
	snprintf(text, sizeof(text), "%s inst-b\n", boot);
	write_text(peer_hb, text);
	snprintf(text, sizeof(text), "node-b %s inst-b 4242 tok 1\n", boot);
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_IN_USE,
	      "a peer with a fresh heartbeat keeps its lock");
	/* its heartbeat 10 s old next to the store's now: dead */
	age(peer_hb, 10);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_OK,
	      "a peer whose heartbeat is older than the timeout loses it");
	lock_file_release(&a);

	/* a fresh heartbeat of a restarted peer (another instance) */
	snprintf(text, sizeof(text), "%s inst-b2\n", boot);
	write_text(peer_hb, text);
	snprintf(text, sizeof(text), "node-b %s inst-b 4242 tok 1\n", boot);
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_OK,
	      "a lock of a peer's earlier instance is taken at once");
	lock_file_release(&a);

	/* a peer's tool ("-" instance) is judged by the node's heartbeat */
	snprintf(text, sizeof(text), "node-b %s - 4242 tok 1\n", boot);
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_IN_USE,
	      "a tool's lock on a live peer is respected");
	unlink(path);

	/* a peer with no heartbeat file at all: age decides */
	unlink(peer_hb);
	snprintf(text, sizeof(text), "node-b %s inst-b 4242 tok 1\n", boot);
	write_text(path, text);
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_IN_USE,
	      "no heartbeat for the peer: its fresh lock is respected");
	unlink(path);

	/* our own lock, ours by token, not a stranger's at the same path */
	CHECK(lock_file_take(path, 60, &a, &error) == MAILDROP_OK,
	      "take a free lock");
	CHECK(lock_file_refresh(a) == 0, "refresh while the beat is fresh");
	age(own_hb, 10);
	CHECK(lock_file_refresh(a) < 0,
	      "a node whose heartbeat is late is fenced: refresh fails");
	CHECK(node_heartbeat_beat(&error) == 0 && lock_file_refresh(a) == 0,
	      "beating again ends the fence");
	/* someone broke it and wrote the same path: not ours any more */
	unlink(path);
	CHECK(lock_file_take(path, 60, &b, &error) == MAILDROP_OK,
	      "another session takes the broken lock");
	CHECK(lock_file_refresh(a) < 0, "the old holder sees it lost");
	lock_file_release(&a);
	CHECK(access(path, F_OK) == 0,
	      "the old holder's release leaves the new lock alone");
	lock_file_release(&b);

	unlink(own_hb);
	rmdir(hbdir);
	rmdir(dir);
	return unit_done();
}
