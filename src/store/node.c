/* node.c: the node's identity and heartbeat file (node.h); the
 * PostgreSQL heartbeat is node_pgsql.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/node.h"
#include "store/node_pgsql.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/shmem.h"

#define NODE_BEAT_MIN_MS 200
#define NODE_HEARTBEAT_LINE (NODE_BOOT_MAX + NODE_TOKEN_LEN + 8)

/* Module state (node.h): written once by node_init before any fork. */
static struct {
	char id[NODE_ID_MAX + 1];
	char boot[NODE_BOOT_MAX + 1];
	char instance[NODE_TOKEN_LEN + 1];
	char heartbeat_path[PATH_MAX];
	char *pgsql;                /* conninfo (a copy: outlives reloads),
				       or NULL */
	int64_t *beat_ok_ms;        /* shared: monotonic start of the last
				       good PostgreSQL beat */
	unsigned timeout;
	bool beats;
	bool intruder_logged;
} node = { .boot = "-", .instance = "-" };

int node_token(char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[NODE_TOKEN_LEN / 2];

	if (size < NODE_TOKEN_LEN + 1 ||
	    getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 15];
	}
	buf[NODE_TOKEN_LEN] = '\0';
	return 0;
}

/* A node id is a file name and one word of a lock line. */
static bool node_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > NODE_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (c <= ' ' || c >= 0x7f || c == '/')
			return false;
	}
	return true;
}

static void node_read_boot_id(void)
{
	char buf[NODE_BOOT_MAX + 2];
	ssize_t n;
	int fd;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = fileio_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	if (buf[0] != '\0' && strlen(buf) < sizeof(node.boot))
		memcpy(node.boot, buf, strlen(buf) + 1);
}

int node_init(const struct node_settings *set, const char **error_r)
{
	char host[HOST_NAME_MAX + 1];

	if (set->node_id[0] != '\0') {
		snprintf(host, sizeof(host), "%s", set->node_id);
	} else if (gethostname(host, sizeof(host)) < 0) {
		snprintf(host, sizeof(host), "localhost");
	}
	host[sizeof(host) - 1] = '\0';
	if (!node_id_is_valid(host)) {
		*error_r = "node_id must be 1-63 printable characters "
			   "without spaces or '/'";
		return -1;
	}
	memcpy(node.id, host, strlen(host) + 1); /* fits: checked above */
	node_read_boot_id();
	snprintf(node.instance, sizeof(node.instance), "-");
	if (set->beats && node_token(node.instance, sizeof(node.instance)) < 0) {
		*error_r = "no randomness for the node's instance token";
		return -1;
	}
	node.timeout = set->heartbeat_timeout;
	node.beats = set->beats;
	node.heartbeat_path[0] = '\0';
	if (set->heartbeat_pgsql != NULL && set->heartbeat_pgsql[0] != '\0') {
		if (node_pgsql_load(error_r) < 0)
			return -1;
		free(node.pgsql);
		node.pgsql = strdup(set->heartbeat_pgsql);
		node.beat_ok_ms = shmem_create(sizeof(*node.beat_ok_ms));
		if (node.pgsql == NULL || node.beat_ok_ms == NULL) {
			*error_r = "no shared memory for the heartbeat";
			return -1;
		}
		return 0;
	}
	if (set->heartbeat_dir[0] == '\0')
		return 0;
	if ((size_t)snprintf(node.heartbeat_path, sizeof(node.heartbeat_path),
			     "%s/%s", set->heartbeat_dir, node.id) >=
	    sizeof(node.heartbeat_path)) {
		*error_r = "node_heartbeat_dir is too long";
		return -1;
	}
	if (set->beats && mkdir(set->heartbeat_dir, 0755) < 0 &&
	    errno != EEXIST) {
		*error_r = "cannot create node_heartbeat_dir";
		return -1;
	}
	return 0;
}

/* A process that never called node_init (satchel deliver) is the host
 * with no heartbeat, as its locks always said. */
static void node_default(void)
{
	const char *error;
	struct node_settings set = { .node_id = "", .heartbeat_dir = "" };

	if (node.id[0] == '\0' && node_init(&set, &error) < 0)
		snprintf(node.id, sizeof(node.id), "localhost");
}

const char *node_id(void)
{
	node_default();
	return node.id;
}

const char *node_boot_id(void)
{
	node_default();
	return node.boot;
}

const char *node_instance(void)
{
	return node.instance;
}

bool node_heartbeats_enabled(void)
{
	return node.heartbeat_path[0] != '\0' || node.pgsql != NULL;
}

static int64_t node_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned node_heartbeat_timeout(void)
{
	return node.timeout;
}

unsigned node_beat_interval_ms(void)
{
	unsigned ms = node.timeout * 1000 / 3;

	return ms < NODE_BEAT_MIN_MS ? NODE_BEAT_MIN_MS : ms;
}

/* Reads "boot instance" from an open heartbeat file. Returns 0 or -1. */
static int node_read_heartbeat(int fd, char *boot, size_t boot_size,
			       char *instance, size_t instance_size)
{
	char line[NODE_HEARTBEAT_LINE + 1];
	char *sp;
	ssize_t n;

	n = pread(fd, line, sizeof(line) - 1, 0);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	sp = strchr(line, ' ');
	if (sp == NULL)
		return -1;
	*sp++ = '\0';
	if (strlen(line) >= boot_size || strlen(sp) >= instance_size)
		return -1;
	memcpy(boot, line, strlen(line) + 1);
	memcpy(instance, sp, strlen(sp) + 1);
	return 0;
}

static int node_write_heartbeat(const char **error_r)
{
	char line[NODE_HEARTBEAT_LINE + 1];
	int len;

	len = snprintf(line, sizeof(line), "%s %s\n", node.boot, node.instance);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		*error_r = "heartbeat line too long";
		return -1;
	}
	return fileio_replace(node.heartbeat_path, line, (size_t)len, 0644,
			      error_r);
}

int node_heartbeat_beat(const char **error_r)
{
	char boot[NODE_BOOT_MAX + 1], instance[NODE_TOKEN_LEN + 1];
	int fd, ret;

	if (!node_heartbeats_enabled())
		return 0;
	if (node.pgsql != NULL) {
		/* the beat's start: the row's now() is no earlier */
		int64_t start = node_monotonic_ms();

		if (node_pgsql_beat(node.pgsql, node.id, node.boot,
				    node.instance, node_beat_interval_ms(),
				    error_r) < 0)
			return -1;
		__atomic_store_n(node.beat_ok_ms, start, __ATOMIC_RELAXED);
		return 0;
	}
	fd = open(node.heartbeat_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) {
			*error_r = "cannot open the heartbeat file";
			return -1;
		}
		return node_write_heartbeat(error_r);
	}
	if (node_read_heartbeat(fd, boot, sizeof(boot), instance,
				sizeof(instance)) < 0 ||
	    strcmp(boot, node.boot) != 0 ||
	    strcmp(instance, node.instance) != 0) {
		/* Two masters with one node_id would keep each other's
		 * locks alive: say so, once, and take the file back. */
		close(fd);
		if (!node.intruder_logged)
			log_error("node %s: the heartbeat file %s names "
				  "another instance (two nodes with one "
				  "node_id?); rewriting it", node.id,
				  node.heartbeat_path);
		node.intruder_logged = true;
		return node_write_heartbeat(error_r);
	}
	ret = futimens(fd, NULL);
	close(fd);
	if (ret < 0) {
		*error_r = "cannot touch the heartbeat file";
		return -1;
	}
	return 0;
}

/* a - b in milliseconds (negative when b is later) */
static int64_t node_diff_ms(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(a->tv_sec - b->tv_sec) * 1000 +
	       (a->tv_nsec - b->tv_nsec) / 1000000;
}

enum node_verdict node_judge_peer(const char *peer, const char *boot,
				  const char *instance,
				  const struct timespec *store_now)
{
	char path[PATH_MAX], hb_boot[NODE_BOOT_MAX + 1];
	char hb_instance[NODE_TOKEN_LEN + 1];
	enum node_verdict verdict = NODE_UNKNOWN;
	struct stat st;
	char *slash;
	int fd;

	if (!node_heartbeats_enabled() || !node_id_is_valid(peer))
		return NODE_UNKNOWN;
	if (node.pgsql != NULL)
		return node_pgsql_judge(node.pgsql, peer, boot, instance,
					node.timeout, node_beat_interval_ms());
	snprintf(path, sizeof(path), "%s", node.heartbeat_path);
	slash = strrchr(path, '/');
	if (slash == NULL ||
	    (size_t)(slash + 1 - path) + strlen(peer) >= sizeof(path))
		return NODE_UNKNOWN;
	memcpy(slash + 1, peer, strlen(peer) + 1);
	/* open + fstat: an NFS client revalidates on open (close-to-open) */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NODE_UNKNOWN;
	if (fstat(fd, &st) < 0 ||
	    node_read_heartbeat(fd, hb_boot, sizeof(hb_boot), hb_instance,
				sizeof(hb_instance)) < 0)
		goto out_close;
	if (strcmp(boot, hb_boot) != 0 ||
	    (strcmp(instance, "-") != 0 && strcmp(instance, hb_instance) != 0))
		verdict = NODE_DEAD; /* rebooted or restarted since */
	else if (node_diff_ms(store_now, &st.st_mtim) >
		 (int64_t)node.timeout * 1000)
		verdict = NODE_DEAD;
	else
		verdict = NODE_ALIVE;
out_close:
	close(fd);
	return verdict;
}

bool node_is_fenced(const struct timespec *store_now)
{
	struct stat st;
	int fd;
	bool fenced;

	if (!node_heartbeats_enabled() || !node.beats)
		return false;
	if (node.pgsql != NULL)
		return node_monotonic_ms() -
			       __atomic_load_n(node.beat_ok_ms,
					       __ATOMIC_RELAXED) >
		       (int64_t)node.timeout * 1000;
	fd = open(node.heartbeat_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return true;
	fenced = fstat(fd, &st) < 0 ||
		 node_diff_ms(store_now, &st.st_mtim) >
			 (int64_t)node.timeout * 1000;
	close(fd);
	return fenced;
}
