/* fetch_import.c: other fetchers' UIDL files into the journal
 * (fetch_import.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/fetch_import.h"
#include "fetch/fetch_run_private.h"
#include "fetch/journal.h"
#include "store/uidl.h"
#include "util/strnum.h"

#define FETCH_IMPORT_LINE_MAX 4096

struct fetch_import {
	const struct fetch_account *a;
	struct journal *journal;
	size_t added, skipped;
	bool in_block;        /* mpop: inside this account's block */
	const char *error;
};

static void fetch_import_add(struct fetch_import *im, const char *uidl,
			     size_t len, time_t when)
{
	const char *why;

	if (im->error != NULL)
		return;
	if (!uidl_is_valid(uidl, len)) {
		im->skipped++;
		return;
	}
	if (journal_has(im->journal, uidl, len, NULL))
		return;
	if (journal_add(im->journal, uidl, len, when, &why) < 0)
		im->error = why;
	else
		im->added++;
}

/* " COUNT HOST USER" opens a block; the UIDL lines follow. */
static void fetch_import_mpop(struct fetch_import *im, char *line)
{
	char host[256], user[256];

	if (line[0] == '#')
		return;
	if (line[0] == ' ') {
		im->in_block =
			sscanf(line, " %*u %255s %255s", host, user) == 2 &&
			strcmp(host, im->a->url.host) == 0 &&
			strcmp(user, im->a->url.user) == 0;
		return;
	}
	if (im->in_block)
		fetch_import_add(im, line, strlen(line), time(NULL));
}

/* "USER@HOST UIDL" (the user may hold '@' itself). */
static void fetch_import_fetchmail(struct fetch_import *im, char *line)
{
	char *sp = strchr(line, ' '), *at;
	size_t ulen = strlen(im->a->url.user);

	if (sp == NULL)
		return;
	*sp = '\0';
	at = strrchr(line, '@');
	if (at == NULL || (size_t)(at - line) != ulen ||
	    strncmp(line, im->a->url.user, ulen) != 0 ||
	    strcmp(at + 1, im->a->url.host) != 0)
		return;
	fetch_import_add(im, sp + 1, strcspn(sp + 1, " "), time(NULL));
}

/* "UIDL\0TIMESTAMP": the line as read, with its NUL. */
static void fetch_import_getmail(struct fetch_import *im, char *line,
				 size_t len)
{
	size_t ulen = strnlen(line, len);
	uint64_t when = 0;

	if (ulen == len ||
	    strnum_parse_u64(line + ulen + 1, (uint64_t)time(NULL), &when) < 0)
		when = (uint64_t)time(NULL);
	fetch_import_add(im, line, ulen, (time_t)when);
}

/* Splits the file into lines (LF, a CR before it dropped) of at most
 * size - 1 octets; a longer one is skipped whole. NULs stay in a line
 * (getmail's lines hold one). */
static void fetch_import_lines(struct fetch_import *im, FILE *in,
			       size_t kind, char *line, size_t size)
{
	size_t len = 0;
	bool too_long = false;
	int c;

	for (;;) {
		c = getc(in);
		if (c == EOF && len == 0)
			break;
		if (c != '\n' && c != EOF) {
			if (len < size - 1)
				line[len++] = (char)c;
			else
				too_long = true;
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (too_long)
			im->skipped++;
		else if (kind == 0)
			fetch_import_mpop(im, line);
		else if (kind == 1)
			fetch_import_fetchmail(im, line);
		else
			fetch_import_getmail(im, line, len);
		len = 0;
		too_long = false;
		if (c == EOF)
			break;
	}
}

static const char *const fetch_import_kinds[] = { "mpop:", "fetchmail:",
						   "getmail:" };

int fetch_import(const struct fetch_account *a, const char *spec)
{
	struct fetch_import im = { .a = a };
	char path[4096], line[FETCH_IMPORT_LINE_MAX];
	const char *why = NULL, *file = NULL;
	size_t kind, n;
	FILE *in;

	for (kind = 0; kind < 3; kind++) {
		n = strlen(fetch_import_kinds[kind]);
		if (strncmp(spec, fetch_import_kinds[kind], n) == 0) {
			file = spec + n;
			break;
		}
	}
	if (file == NULL || file[0] == '\0') {
		fprintf(stderr, "satchel fetch: --import-uidls: mpop:FILE, "
			"fetchmail:FILE or getmail:FILE\n");
		return FETCH_EXIT_USAGE;
	}
	in = fopen(file, "re");
	if (in == NULL) {
		perror(file);
		return FETCH_EXIT_IOERR;
	}
	if (fetch_state_path(a, path, sizeof(path)) < 0 ||
	    journal_open(path, &im.journal, &why) != JOURNAL_OK) {
		fclose(in);
		fprintf(stderr, "satchel fetch: %s: %s\n", path,
			why != NULL ? why : "another fetch is running");
		return why != NULL ? FETCH_EXIT_IOERR : FETCH_EXIT_TEMPFAIL;
	}
	fetch_import_lines(&im, in, kind, line, sizeof(line));
	fclose(in);
	if (im.error == NULL && journal_sync(im.journal, &why) < 0)
		im.error = why;
	journal_close(&im.journal);
	if (im.error != NULL) {
		fprintf(stderr, "satchel fetch: journal: %s\n", im.error);
		return FETCH_EXIT_IOERR;
	}
	fprintf(stderr, "fetch: %s: %zu UIDLs imported from %s%s\n", a->name,
		im.added, file, im.skipped > 0 ? " (some invalid ones skipped)" :
						 "");
	return FETCH_EXIT_OK;
}
