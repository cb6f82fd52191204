/* fetch_config.c: the accounts file and running its accounts
 * (fetch_config.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fetch/fetch_config.h"
#include "fetch/fetch_daemon.h"
#include "util/strnum.h"

#define FETCH_CONFIG_LINE_MAX 4096

struct fetch_config_ctx {
	struct fetch_config *cfg;
	struct fetch_account *a;    /* the section's account; NULL: top */
	char *err;
	size_t errsize;
	const char *path;
	unsigned line;
};

static int fetch_config_fail(struct fetch_config_ctx *c, const char *what,
			     const char *key)
{
	snprintf(c->err, c->errsize, "%s:%u: %s%s%s", c->path, c->line, what,
		 key != NULL ? ": " : "", key != NULL ? key : "");
	return -1;
}

/* A copy of value that lives as long as the config. */
static const char *fetch_config_keep(struct fetch_config_ctx *c,
				     const char *value)
{
	struct fetch_config *cfg = c->cfg;
	char *copy;

	if (cfg->nowned == cfg->owned_cap) {
		size_t cap = cfg->owned_cap == 0 ? 32 : cfg->owned_cap * 2;
		char **grown = realloc(cfg->owned, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		cfg->owned = grown;
		cfg->owned_cap = cap;
	}
	copy = strdup(value);
	if (copy != NULL)
		cfg->owned[cfg->nowned++] = copy;
	return copy;
}

static int fetch_config_bool(struct fetch_config_ctx *c, const char *key,
			     const char *value, bool *out)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0)
		*out = true;
	else if (strcasecmp(value, "no") == 0 ||
		 strcasecmp(value, "false") == 0)
		*out = false;
	else
		return fetch_config_fail(c, "yes or no", key);
	return 0;
}

static int fetch_config_number(struct fetch_config_ctx *c, const char *key,
			       const char *value, uint64_t max, uint64_t *out)
{
	/* 0 is never a useful count, period or size here */
	if (strnum_parse_u64(value, max, out) < 0 || *out == 0)
		return fetch_config_fail(c, "not a number in range", key);
	return 0;
}

/* keep = yes | no | Nd */
static int fetch_config_keep_days(struct fetch_config_ctx *c,
				  const char *value)
{
	char days[16];
	size_t len = strlen(value);
	uint64_t n;

	if (len >= 2 && len < sizeof(days) && value[len - 1] == 'd') {
		memcpy(days, value, len - 1);
		days[len - 1] = '\0';
		if (fetch_config_number(c, "keep", days, 100000, &n) < 0)
			return -1;
		c->a->keep = true;
		c->a->keep_days = (unsigned)n;
		return 0;
	}
	return fetch_config_bool(c, "keep", value, &c->a->keep);
}

static int fetch_config_tls(struct fetch_config_ctx *c, const char *value)
{
	if (strcasecmp(value, "implicit") == 0)
		c->a->tls = FETCH_TLS_IMPLICIT;
	else if (strcasecmp(value, "starttls") == 0)
		c->a->tls = FETCH_TLS_STARTTLS;
	else if (strcasecmp(value, "none") == 0)
		c->a->tls = FETCH_TLS_NONE;
	else
		return fetch_config_fail(c, "implicit, starttls or none",
					 "tls");
	return 0;
}

static int fetch_config_url(struct fetch_config_ctx *c, const char *value)
{
	const char *why;

	if (popurl_parse(value, &c->a->url, &why) < 0)
		return fetch_config_fail(c, why, "url");
	return 0;
}

/* The keys whose value is a string kept as it is. */
static const char **fetch_config_string_key(struct fetch_account *a,
					    const char *key)
{
	static const struct {
		const char *name;
		size_t offset;
	} keys[] = {
		{ "to", offsetof(struct fetch_account, dest) },
		{ "password_file", offsetof(struct fetch_account,
					    password_file) },
		{ "password_command", offsetof(struct fetch_account,
					       password_command) },
		{ "cafile", offsetof(struct fetch_account, cafile) },
		{ "pin", offsetof(struct fetch_account, pin) },
		{ "cert", offsetof(struct fetch_account, cert) },
		{ "key", offsetof(struct fetch_account, key) },
		{ "rcpt", offsetof(struct fetch_account, rcpt) },
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].name) == 0)
			return (const char **)((char *)a + keys[i].offset);
	}
	return NULL;
}

static int fetch_config_skip_header(struct fetch_config_ctx *c,
				    const char *value)
{
	if (!fetch_skip_header_valid(value))
		return fetch_config_fail(c, "Name: text", "skip_header");
	c->a->skip_header = fetch_config_keep(c, value);
	return c->a->skip_header == NULL ?
		       fetch_config_fail(c, "out of memory", NULL) :
		       0;
}

static int fetch_config_ambiguous(struct fetch_config_ctx *c,
				  const char *value)
{
	if (strcasecmp(value, "redeliver") == 0)
		c->a->ambiguous_skip = false;
	else if (strcasecmp(value, "skip") == 0)
		c->a->ambiguous_skip = true;
	else
		return fetch_config_fail(c, "redeliver or skip", "ambiguous");
	return 0;
}

/* Keys with a parser of their own. */
static const struct {
	const char *name;
	int (*parse)(struct fetch_config_ctx *c, const char *value);
} fetch_config_special_keys[] = {
	{ "url", fetch_config_url },
	{ "keep", fetch_config_keep_days },
	{ "tls", fetch_config_tls },
	{ "ambiguous", fetch_config_ambiguous },
	{ "skip_header", fetch_config_skip_header },
};

/* yes/no keys. */
static const struct {
	const char *name;
	size_t offset;
} fetch_config_bool_keys[] = {
	{ "allow_plaintext", offsetof(struct fetch_account, allow_plaintext) },
	{ "accept_new_uidls", offsetof(struct fetch_account,
				       accept_new_uidls) },
	{ "match_headers", offsetof(struct fetch_account, match_headers) },
	{ "sdps", offsetof(struct fetch_account, sdps) },
	{ "preview", offsetof(struct fetch_account, preview) },
};

/* Numbers (> 0) into a uint64_t (wide) or an unsigned field. */
static const struct {
	const char *name;
	size_t offset;
	uint64_t max;
	bool wide;
} fetch_config_number_keys[] = {
	{ "skip_larger", offsetof(struct fetch_account, skip_larger),
	  UINT64_MAX / 2, true },
	{ "delete_larger", offsetof(struct fetch_account, delete_larger),
	  UINT64_MAX / 2, true },
	{ "max_bytes", offsetof(struct fetch_account, max_bytes),
	  UINT64_MAX / 2, true },
	{ "max_messages", offsetof(struct fetch_account, max_messages),
	  FETCH_MESSAGES_MAX, false },
	{ "timeout", offsetof(struct fetch_account, timeout_secs),
	  7 * 86400, false },
	{ "session_timeout", offsetof(struct fetch_account, session_secs),
	  7 * 86400, false },
};

#define FETCH_COUNT(table) (sizeof(table) / sizeof((table)[0]))

static int fetch_config_account_key(struct fetch_config_ctx *c,
				    const char *key, const char *value)
{
	struct fetch_account *a = c->a;
	const char **str = fetch_config_string_key(a, key);
	uint64_t n;
	size_t i;

	if (str != NULL) {
		*str = fetch_config_keep(c, value);
		return *str == NULL ? fetch_config_fail(c, "out of memory",
							NULL) :
				      0;
	}
	for (i = 0; i < FETCH_COUNT(fetch_config_special_keys); i++) {
		if (strcmp(key, fetch_config_special_keys[i].name) == 0)
			return fetch_config_special_keys[i].parse(c, value);
	}
	for (i = 0; i < FETCH_COUNT(fetch_config_bool_keys); i++) {
		if (strcmp(key, fetch_config_bool_keys[i].name) == 0)
			return fetch_config_bool(
				c, key, value,
				(bool *)((char *)a +
					 fetch_config_bool_keys[i].offset));
	}
	for (i = 0; i < FETCH_COUNT(fetch_config_number_keys); i++) {
		char *field = (char *)a + fetch_config_number_keys[i].offset;

		if (strcmp(key, fetch_config_number_keys[i].name) != 0)
			continue;
		if (fetch_config_number(c, key, value,
					fetch_config_number_keys[i].max,
					&n) < 0)
			return -1;
		if (fetch_config_number_keys[i].wide)
			*(uint64_t *)(void *)field = n;
		else
			*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	}
	return fetch_config_fail(c, "unknown key", key);
}

static int fetch_config_top_key(struct fetch_config_ctx *c, const char *key,
				const char *value)
{
	uint64_t n;

	if (strcmp(key, "state_dir") == 0) {
		if (strlen(value) >= sizeof(c->cfg->state_dir))
			return fetch_config_fail(c, "too long", key);
		memcpy(c->cfg->state_dir, value, strlen(value) + 1);
		return 0;
	}
	if (strcmp(key, "parallel") == 0) {
		if (fetch_config_number(c, key, value, 256, &n) < 0)
			return -1;
		c->cfg->parallel = (unsigned)n;
		return 0;
	}
	return fetch_config_fail(c, "unknown key before any [account]", key);
}

static int fetch_config_section(struct fetch_config_ctx *c, char *line,
				const struct fetch_account *base)
{
	struct fetch_config *cfg = c->cfg;
	char *end = strchr(line, ']');
	size_t i;

	if (end == NULL || end[1] != '\0' || end == line + 1)
		return fetch_config_fail(c, "a section is [NAME]", NULL);
	*end = '\0';
	line++;
	for (i = 0; i < cfg->count; i++) {
		if (strcmp(cfg->accounts[i].name, line) == 0)
			return fetch_config_fail(c, "account named twice",
						 line);
	}
	if (cfg->count == FETCH_ACCOUNTS_MAX ||
	    strlen(line) >= sizeof(c->a->name))
		return fetch_config_fail(c, "too many accounts or name too "
					 "long", NULL);
	c->a = &cfg->accounts[cfg->count++];
	*c->a = *base;
	memcpy(c->a->name, line, strlen(line) + 1);
	return 0;
}

static char *fetch_config_trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Every account needs a URL and a destination. */
static int fetch_config_check(struct fetch_config_ctx *c)
{
	size_t i;

	for (i = 0; i < c->cfg->count; i++) {
		struct fetch_account *a = &c->cfg->accounts[i];

		if (a->url.host[0] == '\0' || a->dest == NULL) {
			snprintf(c->err, c->errsize,
				 "%s: [%s]: needs url and to", c->path,
				 a->name);
			return -1;
		}
		if (a->tls == FETCH_TLS_DEFAULT)
			a->tls = a->url.implicit_tls ? FETCH_TLS_IMPLICIT :
						       FETCH_TLS_STARTTLS;
		if (a->rcpt == NULL)
			a->rcpt = a->url.user;
		a->state_dir = c->cfg->state_dir;
	}
	return 0;
}

int fetch_config_read(const char *path, const struct fetch_account *base,
		      struct fetch_config *cfg, char *err, size_t errsize)
{
	struct fetch_config_ctx c = { cfg, NULL, err, errsize, path, 0 };
	char line[FETCH_CONFIG_LINE_MAX];
	FILE *in;
	int ret = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->parallel = 4;
	if (base->state_dir != NULL)
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
			 base->state_dir);
	cfg->accounts = calloc(FETCH_ACCOUNTS_MAX, sizeof(*cfg->accounts));
	in = fopen(path, "re");
	if (cfg->accounts == NULL || in == NULL) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		if (in != NULL)
			fclose(in);
		return -1;
	}
	while (ret == 0 && fgets(line, sizeof(line), in) != NULL) {
		char *p = fetch_config_trim(line), *eq;

		c.line++;
		if (strlen(line) == sizeof(line) - 1)
			ret = fetch_config_fail(&c, "line too long", NULL);
		else if (p[0] == '\0' || p[0] == '#')
			continue;
		else if (p[0] == '[')
			ret = fetch_config_section(&c, p, base);
		else if ((eq = strchr(p, '=')) == NULL)
			ret = fetch_config_fail(&c, "expected key = value",
						NULL);
		else {
			*eq = '\0';
			p = fetch_config_trim(p);
			eq = fetch_config_trim(eq + 1);
			ret = c.a != NULL ?
				      fetch_config_account_key(&c, p, eq) :
				      fetch_config_top_key(&c, p, eq);
		}
	}
	fclose(in);
	if (ret == 0 && cfg->state_dir[0] == '\0') {
		snprintf(err, errsize, "%s: no state_dir", path);
		ret = -1;
	}
	return ret == 0 ? fetch_config_check(&c) : -1;
}

void fetch_config_free(struct fetch_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nowned; i++)
		free(cfg->owned[i]);
	free(cfg->owned);
	free(cfg->accounts);
	memset(cfg, 0, sizeof(*cfg));
}

/* Higher is worse (fetch_config.h). */
static int fetch_exit_rank(int code)
{
	switch (code) {
	case FETCH_EXIT_OK: return 0;
	case FETCH_EXIT_TEMPFAIL: return 1;
	case FETCH_EXIT_UNAVAILABLE: return 2;
	case FETCH_EXIT_PROTOCOL: return 3;
	case FETCH_EXIT_IOERR: return 4;
	case FETCH_EXIT_NOPERM: return 5;
	default: return 6;
	}
}

int fetch_exit_worst(int a, int b)
{
	return fetch_exit_rank(b) > fetch_exit_rank(a) ? b : a;
}

static int fetch_config_wait_one(size_t *running)
{
	int status;
	pid_t pid;

	do
		pid = wait(&status);
	while (pid < 0 && errno == EINTR);
	if (pid < 0)
		return FETCH_EXIT_CONFIG;
	(*running)--;
	return WIFEXITED(status) ? WEXITSTATUS(status) : FETCH_EXIT_TEMPFAIL;
}

static bool fetch_config_wanted(const struct fetch_account *a, char **names,
				size_t nnames)
{
	size_t i;

	if (nnames == 0)
		return true;
	for (i = 0; i < nnames; i++) {
		if (strcmp(names[i], a->name) == 0)
			return true;
	}
	return false;
}

int fetch_config_run(struct fetch_config *cfg, char **names, size_t nnames)
{
	size_t i, running = 0, matched = 0;
	int worst = FETCH_EXIT_OK;
	time_t now = time(NULL);

	for (i = 0; i < cfg->count; i++) {
		pid_t pid;

		if (!fetch_config_wanted(&cfg->accounts[i], names, nnames))
			continue;
		matched++;
		/* the server's LOGIN-DELAY has not passed: not this round */
		if (!fetch_daemon_due(&cfg->accounts[i], now))
			continue;
		if (running == cfg->parallel)
			worst = fetch_exit_worst(worst,
						 fetch_config_wait_one(&running));
		fflush(NULL);
		pid = fork();
		if (pid == 0)
			_exit(fetch_run(&cfg->accounts[i]));
		if (pid < 0) {
			worst = fetch_exit_worst(worst, FETCH_EXIT_TEMPFAIL);
			continue;
		}
		running++;
	}
	while (running > 0)
		worst = fetch_exit_worst(worst, fetch_config_wait_one(&running));
	if (matched < nnames) {
		fprintf(stderr, "satchel fetch: no such account in the "
			"file\n");
		worst = fetch_exit_worst(worst, FETCH_EXIT_USAGE);
	}
	return worst;
}
