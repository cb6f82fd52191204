/* cmdparse.c: command line splitting and table lookup (see cmdparse.h). */
#include "serve/cmdparse.h"

#include <string.h>
#include <strings.h>

int cmdparse_verb(char *line, struct cmd_args *args_r)
{
	size_t verb_len = strcspn(line, " ");
	char *rest;

	memset(args_r, 0, sizeof(*args_r));
	if (verb_len == 0 || verb_len >= sizeof(args_r->verb))
		return -1;
	memcpy(args_r->verb, line, verb_len);
	args_r->verb[verb_len] = '\0';
	rest = line + verb_len;
	if (*rest == ' ')
		rest++;
	args_r->rest = rest;
	return 0;
}

void cmdparse_args(struct cmd_args *args, bool rest_arg)
{
	char *p = args->rest;

	args->argc = 0;
	if (rest_arg) {
		if (*p != '\0') {
			args->argv[0] = p;
			args->argc = 1;
		}
		return;
	}
	for (;;) {
		char *end;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, " ");
		if (args->argc < CMD_MAX_ARGS)
			args->argv[args->argc] = p;
		args->argc++;
		if (*end == '\0')
			break;
		*end = '\0';
		p = end + 1;
	}
}

const struct command *cmdparse_find(const struct command *table, size_t n,
				    const char *verb)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(table[i].name, verb) == 0)
			return &table[i];
	}
	return NULL;
}
