/* test-delivery.c: the store's write side: Maildir names, the header
 * filter, delivery into a Maildir (sizes, headers, loops, duplicates,
 * multi-recipient links, errors leaving tmp/ empty). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/delivery.h"
#include "store/delivery_name.h"
#include "store/maildrop.h"
#include "store/msgconv.h"
#include "store/msghdr.h"
#include "store/uidl.h"
#include "unit.h"

#define NOBODY 65534

static char root[] = "/tmp/satchel-delivery-XXXXXX";
static char md_path[600], md2_path[600];

static const char host64[] =
	"h234567890123456789012345678901234567890123456789012345678901234";

/* ---- names ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_names(void)
{
	char name[128], *names[2000], line[128];
	bool ok_len = true, ok_uidl = true, unique = true;
	int fds[2], i, p;
	FILE *in;
	size_t n = 0;

	CHECK(delivery_name_make(host64, NULL, 123456789, 123999999, name,
				 sizeof(name)) == 0 &&
		      strlen(name) <= 70 && uidl_is_valid(name, strlen(name)),
	      "names: <= 70 octets and a valid UIDL with a 64-char host");
	CHECK(strstr(name, ",S=123456789,W=123999999") != NULL &&
		      name[strlen(name) - 1] == '9',
	      "names: sizes kept whole, host cut");
	CHECK(delivery_name_make("a/b:c,S=1", NULL, 10, 12, name, sizeof(name)) ==
			      0 && strchr(name, '/') == NULL &&
		      strchr(name, ':') == NULL &&
		      strstr(name, "a\\057b\\072c\\054S=1,S=10,W=12") != NULL,
	      "names: / : , in the host escaped (no fake ,S=)");
	CHECK(delivery_name_make("h", NULL, UINT64_MAX, UINT64_MAX, name,
				 sizeof(name)) == 0 &&
		      strstr(name, ",W=18446744073709551615") != NULL,
	      "names: absurd sizes still make a name");
	/* two processes at once, 1000 names each */
	if (pipe(fds) < 0)
		abort();
	for (p = 0; p < 2; p++) {
		if (fork() == 0) {
			FILE *out = fdopen(fds[1], "w");

			/* one write per line: atomic on a pipe (PIPE_BUF), so
			 * the two children's lines do not mix */
			setvbuf(out, NULL, _IOLBF, 0);
			close(fds[0]);
			for (i = 0; i < 1000; i++) {
				delivery_name_make(host64, NULL, 100, 102, name,
						   sizeof(name));
				fprintf(out, "%s\n", name);
			}
			fclose(out);
			_exit(0);
		}
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (n < 2000 && fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		ok_len = ok_len && strlen(line) <= 70;
		ok_uidl = ok_uidl && uidl_is_valid(line, strlen(line));
		names[n++] = strdup(line);
	}
	fclose(in);
	while (wait(NULL) > 0)
		;
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 1; i < (int)n; i++)
		unique = unique && strcmp(names[i - 1], names[i]) != 0;
	CHECK(n == 2000 && unique, "names: 2 processes x 1000, all distinct");
	CHECK(ok_len && ok_uidl, "names: every one <= 70 octets, valid UIDL");
	for (i = 0; i < (int)n; i++)
		free(names[i]);
}

/* ---- the header filter ---- */

struct sink {
	char *buf;
	size_t len, size;
};

static void sink_out(void *ctx, const char *data, size_t n)
{
	struct sink *s = ctx;

	if (s->len + n + 1 > s->size) {
		s->size = (s->len + n + 1) * 2;
		s->buf = realloc(s->buf, s->size);
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

/* Filters in chunks of chunk octets (0: whole). The result is
 * malloc'd; *h is left finished (deinit by the caller). */
static char *filter(const char *in, size_t len, size_t chunk,
		    struct msghdr *h, size_t *len_r)
{
	struct sink s = { NULL, 0, 0 };
	size_t pos = 0;

	sink_out(&s, "", 0);
	msghdr_init(h, sink_out, &s);
	if (chunk == 0)
		chunk = len;
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;

		msghdr_feed(h, in + pos, n);
		pos += n;
	}
	msghdr_finish(h);
	if (len_r != NULL)
		*len_r = s.len;
	return s.buf;
}

struct filter_case {
	const char *name, *in, *out;
};

static const struct filter_case filter_cases[] = {
	{ "LF: forged UIDL and state stripped, body untouched",
	  "X-UIDL: forged\nSubject: hi\nStatus: RO\nX-Status: A\n"
	  "X-Keywords: $x\nX-IMAP: 1 2\nX-IMAPbase: 1 2\nContent-Length: 3\n"
	  "Lines: 1\nX-UID: 7\n\nbody\nStatus: RO\nX-UIDL: body\n",
	  "Subject: hi\n\nbody\nStatus: RO\nX-UIDL: body\n" },
	{ "CRLF kept as it came",
	  "Subject: hi\r\nx-uidl: forged\r\nTo: a@b\r\n\r\nbody\r\n",
	  "Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n" },
	{ "folded stripped field goes with its continuations",
	  "Status: RO\n continued\n\tmore\nSubject: x\n\nb\n",
	  "Subject: x\n\nb\n" },
	{ "folded kept field stays whole",
	  "Subject: a\n b\nX-Keywords: x\n\ty\nTo: c\n\nb\n",
	  "Subject: a\n b\nTo: c\n\nb\n" },
	{ "X-Satchel-* and Return-Path stripped, case-insensitive",
	  "return-path: <evil@x>\nX-SATCHEL-UIDL: 1\nX-Satchel-Foo: 2\n"
	  "From: a@b\n\nb\n",
	  "From: a@b\n\nb\n" },
	{ "From_ line dropped",
	  "From alice@example.org Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n",
	  "Subject: x\n\nb\n" },
	{ "a From line later is not dropped",
	  "Subject: x\n\nFrom me\n", "Subject: x\n\nFrom me\n" },
	{ "8-bit octets unchanged",
	  "Subject: \xe9t\xe9\n\n\xff\xfe body \x80\n",
	  "Subject: \xe9t\xe9\n\n\xff\xfe body \x80\n" },
	{ "the header ends at a line that is no field",
	  "Subject: x\nthis is body text\nStatus: RO\n",
	  "Subject: x\nthis is body text\nStatus: RO\n" },
	{ "blanks before the colon (obsolete syntax) still stripped",
	  "X-UIDL   : forged\nStatus\t: RO\nTo: a\n\nb",
	  "To: a\n\nb" },
	{ "many blanks after a stripped name: dropped too",
	  "X-UIDL                    : forged\nTo: a\n\nb", "To: a\n\nb" },
	{ "a continuation first is body",
	  " not a field\nStatus: RO\n", " not a field\nStatus: RO\n" },
	{ "no body, no final line end",
	  "Subject: x\nStatus: RO", "Subject: x\n" },
	{ "an unended name at the end is kept",
	  "Subject: x\nStat", "Subject: x\nStat" },
	{ "empty message", "", "" },
	{ "only a From_ line", "From a@b x\n", "" },
	{ "CR alone at the end", "Subject: x\n\r", "Subject: x\n\r" },
	{ "CRLF empty line ends the header",
	  "A: 1\r\n\r\nStatus: RO\r\n", "A: 1\r\n\r\nStatus: RO\r\n" },
};

static void test_filter_cases(void)
{
	size_t i, chunk;

	for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const struct filter_case *c = &filter_cases[i];
		bool ok = true;

		/* whole, byte by byte, and in 3s: the same output */
		for (chunk = 0; chunk <= 3; chunk += chunk == 0 ? 1 : 2) {
			struct msghdr h;
			char *out = filter(c->in, strlen(c->in), chunk, &h,
					   NULL);

			if (strcmp(out, c->out) != 0) {
				printf("# chunk %zu: got \"%s\"\n", chunk, out);
				ok = false;
			}
			free(out);
			msghdr_deinit(&h);
		}
		CHECK(ok, c->name);
	}
}

static void test_filter_values(void)
{
	static const char long_name_msg[] =
		"X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: v\nX-UIDL: forged\n"
		"\nb\n";
	const char *msg =
		"From <bob@example.org> Mon Jan  1 00:00:00 2024\r\n"
		"Delivered-To: top@example\r\nMessage-ID:\r\n <abc@example>\r\n"
		"Received: by x\r\nDelivered-To: one@example\r\n"
		"delivered-to: <Two@Example>\r\nMessage-ID: <second@x>\r\n"
		"\r\nDelivered-To: body@example\r\n";
	struct msghdr h;
	char *out, *big;
	size_t len, i;

	out = filter(msg, strlen(msg), 1, &h, NULL);
	CHECK_STR(h.message_id, "<abc@example>",
		  "values: first Message-ID, unfolded");
	CHECK(h.delivered_to_count == 3 && h.delivered_to_top == 1 &&
		      !msghdr_has_delivered_to(&h, "top@example") &&
		      msghdr_has_delivered_to(&h, "ONE@example") &&
		      msghdr_has_delivered_to(&h, "two@example") &&
		      !msghdr_has_delivered_to(&h, "body@example"),
	      "values: every Delivered-To of the header, not the body");
	CHECK(h.crlf, "values: CRLF seen");
	CHECK_STR(msghdr_from_sender(&h), "bob@example.org",
		  "values: From_ line address");
	free(out);
	msghdr_deinit(&h);

	out = filter("Message-ID: <1@x>\nMessage-ID: <2@x>\n\n", 38, 1, &h,
		     NULL);
	CHECK_STR(h.message_id, "<1@x>",
		  "values: the first of two adjacent Message-IDs");
	free(out);
	msghdr_deinit(&h);

	out = filter("From  Mon Jan 1\nA: b\n\n", 22, 0, &h, NULL);
	CHECK(msghdr_from_sender(&h) != NULL &&
		      strcmp(msghdr_from_sender(&h), "") == 0 && !h.crlf,
	      "values: From_ line without address, LF");
	free(out);
	msghdr_deinit(&h);

	out = filter(long_name_msg, strlen(long_name_msg), 7, &h, NULL);
	CHECK(strstr(out, "X-UIDL") == NULL && strstr(out, ": v\n\nb\n"),
	      "values: a long field name before X-UIDL does not end the "
	      "header");
	free(out);
	msghdr_deinit(&h);

	/* a header line and a body line of 100,000 octets */
	big = malloc(200100);
	len = 0;
	len += (size_t)sprintf(big, "Subject: ");
	for (i = 0; i < 100000; i++)
		big[len++] = 'a' + (char)(i % 26);
	len += (size_t)sprintf(big + len, "\nStatus: RO\n\n");
	for (i = 0; i < 100000; i++)
		big[len++] = 'A' + (char)(i % 26);
	big[len++] = '\n';
	{
		size_t out_len;

		out = filter(big, len, 4096, &h, &out_len);
		CHECK(out_len == len - strlen("Status: RO\n") &&
			      memcmp(out, big, 100010) == 0 &&
			      strstr(out, "Status") == NULL,
		      "values: 100,000-octet lines pass whole");
		free(out);
		msghdr_deinit(&h);
	}
	free(big);

	{
		static const char nul[] = "Subject: a\0b\n\nc\0d\n";
		size_t out_len;

		out = filter(nul, sizeof(nul) - 1, 2, &h, &out_len);
		CHECK(out_len == sizeof(nul) - 1 &&
			      memcmp(out, nul, out_len) == 0 && h.has_nul,
		      "values: NUL passes and is noticed");
		free(out);
		msghdr_deinit(&h);
	}
}

/* ---- delivery ---- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned count_dir(const char *md, const char *sub, char *last,
			  size_t last_size)
{
	char path[1024];
	struct dirent *d;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%s", md, sub);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (last != NULL)
			snprintf(last, last_size, "%s", d->d_name);
		n++;
	}
	closedir(dir);
	return n;
}

static char *read_file(const char *path, size_t *len_r)
{
	static char buf[300000];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	*len_r = (size_t)n;
	return buf;
}

static struct delivery_settings settings = {
	.spool_dir = NULL, .dedup_days = 7, .deadline_secs = 10,
	.hostname = "mx.example.org",
};

/* The envelope's original recipient (ORCPT, -a) of the next deliveries */
static const char *test_orig_rcpt;

/* One message to the recipients (paths and addresses, count n). */
static enum delivery_status deliver(const char *msg, size_t len,
				    const char *sender, const char **paths,
				    const char **rcpts, size_t n,
				    struct delivery_result *res)
{
	struct delivery_envelope env = { sender, test_orig_rcpt, n == 1 };
	struct delivery_spool *spool = NULL;
	const char *error;
	enum delivery_status st = DELIVERY_OK;
	size_t i;

	if (delivery_spool_create(&settings, &spool, &error) < 0) {
		res->status = DELIVERY_TEMP;
		res->enhanced = "x";
		res->text = error;
		return DELIVERY_TEMP;
	}
	if (delivery_spool_write(spool, msg, len, &error) < 0 ||
	    delivery_spool_finish(spool, &env, res) < 0) {
		delivery_spool_destroy(&spool);
		return res->status == DELIVERY_OK ? DELIVERY_TEMP : res->status;
	}
	for (i = 0; i < n; i++) {
		struct delivery_target t = {
			.user = "u", .rcpt = rcpts[i], .kind = MAILDROP_MAILDIR,
			.path = paths[i],
		};
		st = delivery_store(spool, &t, &res[i]);
	}
	delivery_spool_destroy(&spool);
	return st;
}

static enum delivery_status deliver1(const char *msg, const char *sender,
				     const char *rcpt,
				     struct delivery_result *res)
{
	const char *paths[1] = { md_path };

	return deliver(msg, strlen(msg), sender, paths, &rcpt, 1, res);
}

/* The file in new/ (the only one expected) and its content. */
static char *stored(const char *md, char *name, size_t name_size,
		    size_t *len_r)
{
	char path[1400];

	if (count_dir(md, "new", name, name_size) != 1)
		return NULL;
	snprintf(path, sizeof(path), "%s/new/%s", md, name);
	return read_file(path, len_r);
}

static uint64_t list_size(const char *data, size_t len)
{
	struct msgsize ms;

	msgsize_init(&ms);
	msgsize_feed(&ms, data, len);
	return msgsize_finish(&ms);
}

static void test_deliver_basic(void)
{
	struct delivery_result res;
	char name[256], want[128], mode_path[1024];
	struct maildrop_settings ms = {
		.kind = MAILDROP_MAILDIR, .path = md_path,
		.lock_stale_secs = 300,
	};
	struct maildrop *drop = NULL;
	const char *error;
	struct stat st;
	char *data;
	size_t len;

	rm_tree(md_path);
	CHECK(deliver1("X-UIDL: forged\nSubject: hi\n\nbody\n",
		       "alice@example.org", "bob@example.org",
		       &res) == DELIVERY_OK &&
		      strcmp(res.enhanced, "2.0.0") == 0 && !res.duplicate &&
		      strlen(res.delivery_id) == 32,
	      "deliver: OK into a missing Maildir");
	snprintf(mode_path, sizeof(mode_path), "%s/cur", md_path);
	CHECK(stat(mode_path, &st) == 0 && (st.st_mode & 0777) == 0700,
	      "deliver: Maildir made with mode 0700");
	data = stored(md_path, name, sizeof(name), &len);
	CHECK_STR(data, "Return-Path: <alice@example.org>\n"
			"Delivered-To: bob@example.org\nSubject: hi\n\nbody\n",
		  "deliver: Return-Path, Delivered-To, header filtered");
	CHECK(strcmp(res.stored_name, name) == 0 && strlen(name) <= 70,
	      "deliver: stored name reported, <= 70 octets");
	snprintf(want, sizeof(want), ",S=%zu,W=%llu", len,
		 (unsigned long long)list_size(data, len));
	CHECK(strstr(name, want) != NULL && res.size == len,
	      "deliver: S= the file size, W= its LIST size");
	CHECK(count_dir(md_path, "tmp", NULL, 0) == 0, "deliver: tmp/ empty");
	CHECK(maildrop_open(&ms, &drop, &error) == MAILDROP_OK &&
		      maildrop_count(drop) == 1 &&
		      maildrop_msg(drop, 0)->size == list_size(data, len) &&
		      strncmp(maildrop_msg(drop, 0)->uidl, name,
			      strlen(maildrop_msg(drop, 0)->uidl)) == 0 &&
		      strcmp(maildrop_msg(drop, 0)->uidl, name) == 0,
	      "deliver: the POP3 side lists it, UIDL = the name");
	maildrop_close(&drop);
	{
		/* a killed delivery's leftovers: gone after 36 hours */
		struct timespec old[2] = { { time(NULL) - 37 * 3600, 0 },
					   { time(NULL) - 37 * 3600, 0 } };
		char p1[1024], p2[1024];
		int fd;

		snprintf(p1, sizeof(p1), "%s/tmp/1.stale", md_path);
		snprintf(p2, sizeof(p2), "%s/tmp/2.fresh", md_path);
		fd = open(p1, O_CREAT | O_WRONLY, 0600);
		futimens(fd, old);
		close(fd);
		close(open(p2, O_CREAT | O_WRONLY, 0600));
		deliver1("Subject: again\n\n", "a@b", "bob@example.org",
			 &res);
		CHECK(access(p1, F_OK) < 0 && access(p2, F_OK) == 0,
		      "deliver: tmp/ files older than 36 hours removed");
		unlink(p2);
	}

	rm_tree(md_path);
	deliver1("Subject: crlf\r\nStatus: RO\r\n\r\nb\r\n", "",
		 "bob@example.org", &res);
	data = stored(md_path, name, sizeof(name), &len);
	CHECK_STR(data, "Return-Path: <>\r\nDelivered-To: bob@example.org\r\n"
			"Subject: crlf\r\n\r\nb\r\n",
		  "deliver: CRLF message gets CRLF headers, null sender");
	snprintf(want, sizeof(want), ",W=%zu", len);
	CHECK(strstr(name, want) != NULL, "deliver: CRLF: W= equals S=");

	rm_tree(md_path);
	deliver1("From carol@example.net Tue Feb  2 00:00:00 2021\n"
		 "Subject: f\n\nno final newline",
		 NULL, "bob@example.org", &res);
	data = stored(md_path, name, sizeof(name), &len);
	CHECK_STR(data, "Return-Path: <carol@example.net>\n"
			"Delivered-To: bob@example.org\nSubject: f\n\n"
			"no final newline",
		  "deliver: sender from the From_ line, which is dropped");
	snprintf(want, sizeof(want), ",W=%llu",
		 (unsigned long long)list_size(data, len));
	CHECK(strstr(name, want) != NULL,
	      "deliver: W= counts the CRLF RETR adds at the end");

	rm_tree(md_path);
	deliver1("From carol@example.net x\nSubject: f\n\n", "dave@x",
		 "bob@example.org", &res);
	data = stored(md_path, name, sizeof(name), &len);
	CHECK(data != NULL && strncmp(data, "Return-Path: <dave@x>\n", 22) == 0,
	      "deliver: -f wins over the From_ line");
	rm_tree(md_path);
	deliver1("Return-Path: <evil@x>\nReturn-path:\n <evil2@x>\n"
		 "Subject: rp\n\n", "good@x", "bob@example.org", &res);
	data = stored(md_path, name, sizeof(name), &len);
	CHECK(data != NULL &&
		      strncmp(data, "Return-Path: <good@x>\n", 22) == 0 &&
		      strstr(data, "evil") == NULL,
	      "deliver: an incoming Return-Path is replaced");
	rm_tree(md_path);
	deliver1("Subject: f\n\n", NULL, "bob@example.org", &res);
	data = stored(md_path, name, sizeof(name), &len);
	CHECK(data != NULL &&
		      strncmp(data, "Return-Path: <MAILER-DAEMON>\n", 29) == 0,
	      "deliver: no sender at all: MAILER-DAEMON");
}

static void test_deliver_refusals(void)
{
	struct delivery_result res;
	static const char nul[] = "Subject: a\0b\n\nc\n";
	const char *paths[1] = { md_path }, *rcpt = "bob@example.org";
	char name[256];
	size_t len;
	char *data;

	rm_tree(md_path);
	CHECK(deliver1("Received: from a by b\nDelivered-To: other@x\n"
		       "Delivered-To: BOB@example.org\nSubject: loop\n\n",
		       "a@b", "bob@example.org", &res) == DELIVERY_PERM &&
		      strcmp(res.enhanced, "5.4.6") == 0 &&
		      count_dir(md_path, "new", NULL, 0) == 0,
	      "refuse: Delivered-To for this recipient is a loop (5.4.6)");
	CHECK(deliver1("From a@b Mon Jan  1 00:00:00 2024\nReturn-Path: <a@b>\n"
		       "X-Original-To: bob@example.org\n"
		       "Delivered-To: bob@example.org\nReceived: from a by b\n"
		       "Subject: postfix\n\n",
		       NULL, "bob@example.org", &res) == DELIVERY_OK,
	      "refuse: not the Delivered-To Postfix local prepends for "
	      "mailbox_command (above every Received)");
	{
		data = stored(md_path, name, sizeof(name), &len);
		CHECK(data != NULL &&
			      strncmp(data, "Return-Path: <a@b>\nX-Original-To:",
				      33) == 0 &&
			      strstr(data, "Delivered-To: bob@example.org\n"
					   "Received") != NULL &&
			      strstr(strstr(data, "Delivered-To") + 1,
				     "Delivered-To") == NULL,
		      "refuse: ... and it is not added a second time");
	}
	CHECK(deliver1("Delivered-To: other@x\n\n", "a@b", "bob@example.org",
		       &res) == DELIVERY_OK,
	      "refuse: another Delivered-To is no loop");

	rm_tree(md_path);
	CHECK(deliver(nul, sizeof(nul) - 1, "a@b", paths, &rcpt, 1, &res) ==
			      DELIVERY_OK &&
		      (data = stored(md_path, name, sizeof(name), &len)) !=
			      NULL &&
		      len > sizeof(nul) - 1 &&
		      memcmp(data + len - (sizeof(nul) - 1), nul,
			     sizeof(nul) - 1) == 0,
	      "NUL: stored as it came by default");
	settings.nul_refuse = true;
	rm_tree(md_path);
	CHECK(deliver(nul, sizeof(nul) - 1, "a@b", paths, &rcpt, 1, &res) ==
			      DELIVERY_PERM &&
		      strcmp(res.enhanced, "5.6.0") == 0 &&
		      count_dir(md_path, "new", NULL, 0) == 0,
	      "NUL: refused (5.6.0) with nul_refuse");
	settings.nul_refuse = false;

	CHECK(deliver1("Subject: x\n\n", "a@b", "bob\r\nX-Evil: 1", &res) ==
			      DELIVERY_PERM,
	      "refuse: a recipient with a line break (header injection)");
}

static void test_deliver_dedup(void)
{
	struct delivery_result res;
	const char *msg = "Message-ID: <1@x>\nSubject: d\n\nbody\n";

	rm_tree(md_path);
	CHECK(deliver1(msg, "a@b", "bob@example.org", &res) == DELIVERY_OK &&
		      !res.duplicate,
	      "dedup: first delivery stored");
	CHECK(deliver1(msg, "a@b", "bob@example.org", &res) == DELIVERY_OK &&
		      res.duplicate &&
		      count_dir(md_path, "new", NULL, 0) == 1 &&
		      count_dir(md_path, "tmp", NULL, 0) == 0,
	      "dedup: the retried transaction: OK, duplicate, one file");
	CHECK(deliver1("Message-ID: <1@x>\nSubject: d\n\nother body\n", "a@b",
		       "bob@example.org", &res) == DELIVERY_OK &&
		      !res.duplicate && count_dir(md_path, "new", NULL, 0) == 2,
	      "dedup: another body is another message");
	settings.dedup_days = 0;
	CHECK(deliver1(msg, "a@b", "bob@example.org", &res) == DELIVERY_OK &&
		      !res.duplicate && count_dir(md_path, "new", NULL, 0) == 3,
	      "dedup: off with dedup_days 0");
	settings.dedup_days = 7;
}

static void test_deliver_multi(void)
{
	struct delivery_result res[2];
	const char *paths[2] = { md_path, md2_path };
	const char *rcpts[2] = { "bob@example.org", "carol@example.org" };
	const char *msg = "Subject: multi\n\nbody\n";
	char name1[256], name2[256], path[1400];
	struct stat st1, st2;
	size_t len;
	char *data;

	rm_tree(md_path);
	rm_tree(md2_path);
	CHECK(deliver(msg, strlen(msg), "a@b", paths, rcpts, 2, res) ==
			      DELIVERY_OK &&
		      res[0].status == DELIVERY_OK &&
		      res[1].status == DELIVERY_OK,
	      "multi: two recipients OK");
	data = stored(md_path, name1, sizeof(name1), &len);
	CHECK_STR(data, "Return-Path: <a@b>\nSubject: multi\n\nbody\n",
		  "multi: no Delivered-To");
	CHECK(stored(md2_path, name2, sizeof(name2), &len) != NULL &&
		      strcmp(name1, name2) != 0,
	      "multi: the second recipient has its own name");
	snprintf(path, sizeof(path), "%s/new/%s", md_path, name1);
	stat(path, &st1);
	snprintf(path, sizeof(path), "%s/new/%s", md2_path, name2);
	stat(path, &st2);
	CHECK(st1.st_ino == st2.st_ino && st1.st_nlink == 2,
	      "multi: one file, hard-linked");
	CHECK(count_dir(md_path, "tmp", NULL, 0) == 0 &&
		      count_dir(md2_path, "tmp", NULL, 0) == 0,
	      "multi: both tmp/ empty");
}

/* Runs fn in a child (as nobody when we are root, so permissions count)
 * and returns its exit status. */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (geteuid() == 0 && (setgid(NOBODY) < 0 ||
				       setuid(NOBODY) < 0))
			_exit(99);
		_exit(fn());
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

static int child_new_unwritable(void)
{
	struct delivery_result res;

	if (deliver1("Subject: x\n\n", "a@b", "bob@x", &res) != DELIVERY_TEMP ||
	    strcmp(res.enhanced, "4.3.0") != 0)
		return 1;
	return count_dir(md_path, "tmp", NULL, 0) == 0 &&
			       count_dir(md_path, "new", NULL, 0) == 0 ?
		       0 : 2;
}

static int child_file_too_big(void)
{
	struct delivery_result res;
	struct rlimit rl = { 2010, 2010 }; /* the spool fits, not the file */
	char msg[2000];

	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	memcpy(msg, "Subject: big\n\n", 14);
	signal(SIGXFSZ, SIG_IGN);
	/* the spool first, then the Maildir file: let the spool pass */
	settings.spool_dir = "/dev/shm";
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 3;
	if (deliver1(msg, "a@b", "bob@x", &res) != DELIVERY_TEMP)
		return 1;
	return count_dir(md_path, "tmp", NULL, 0) == 0 &&
			       count_dir(md_path, "new", NULL, 0) == 0 ?
		       0 : 2;
}

static void chown_tree(const char *path)
{
	char sub[1024];
	static const char *const subs[] = { "", "/tmp", "/new", "/cur" };
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(sub, sizeof(sub), "%s%s", path, subs[i]);
		if (geteuid() == 0 && chown(sub, NOBODY, NOBODY) < 0)
			abort();
	}
}

static void test_deliver_errors(void)
{
	struct delivery_result res;
	char path[1024], link_path[1024];
	int fd;

	/* new/ not writable: the link fails after tmp/ was written */
	rm_tree(md_path);
	deliver1("Subject: x\n\n", "a@b", "bob@x", &res);
	rm_tree(md_path);
	if (mkdir(md_path, 0700) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/tmp", md_path);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cur", md_path);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/new", md_path);
	mkdir(path, 0700);
	chown_tree(md_path);
	CHECK(chown(root, NOBODY, NOBODY) == 0, "chown the test root");
	chmod(path, 0500);
	settings.dedup_days = 0;
	CHECK(in_child(child_new_unwritable) == 0,
	      "errors: new/ unwritable: TEMP 4.3.0, tmp/ empty");
	chmod(path, 0700);

	/* a write error in the middle of the file */
	CHECK(in_child(child_file_too_big) == 0,
	      "errors: write fails (file size limit): TEMP, tmp/ empty");
	settings.dedup_days = 7;

	/* new/ is no directory */
	rm_tree(md_path);
	deliver1("Subject: x\n\n", "a@b", "bob@x", &res);
	snprintf(path, sizeof(path), "%s/new", md_path);
	rm_tree(path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK(deliver1("Subject: y\n\n", "a@b", "bob@x", &res) ==
			      DELIVERY_TEMP &&
		      count_dir(md_path, "tmp", NULL, 0) == 0,
	      "errors: new/ a file: TEMP, tmp/ empty");

	/* a Maildir reached through a user's symlink */
	rm_tree(md_path);
	rm_tree(md2_path);
	deliver1("Subject: x\n\n", "a@b", "bob@x", &res); /* makes md_path */
	if (symlink(md_path, md2_path) < 0)
		abort();
	if (geteuid() == 0 && lchown(md2_path, NOBODY, NOBODY) < 0)
		abort();
	{
		const char *paths[1] = { md2_path }, *rcpt = "carol@x";

		snprintf(link_path, sizeof(link_path), "%s", md2_path);
		CHECK(deliver("Subject: y\n\n", 12, "a@b", paths, &rcpt, 1,
			      &res) == DELIVERY_TEMP &&
			      strcmp(res.enhanced, "4.3.5") == 0 &&
			      strstr(res.text, "symlink") != NULL &&
			      count_dir(md_path, "new", NULL, 0) == 1,
		      "errors: a symlink not owned by root refused (TEMP "
		      "4.3.5), nothing written");
	}
	unlink(link_path);
}

static void test_quota(void)
{
	struct delivery_result res;
	const char *paths[1] = { md_path };
	struct delivery_spool *spool = NULL;
	struct delivery_envelope env = { "a@b", NULL, true };
	struct delivery_target t = {
		.user = "u", .rcpt = "bob@x", .kind = MAILDROP_MAILDIR,
		.path = md_path, .quota_bytes = 10,
	};
	const char *error;

	(void)paths;
	rm_tree(md_path);
	delivery_spool_create(&settings, &spool, &error);
	delivery_spool_write(spool, "Subject: quota\n\nbody\n", 21, &error);
	delivery_spool_finish(spool, &env, &res);
	CHECK(delivery_store(spool, &t, &res) == DELIVERY_TEMP &&
		      strcmp(res.enhanced, "4.2.2") == 0 &&
		      count_dir(md_path, "new", NULL, 0) == 0,
	      "quota: over: TEMP 4.2.2, nothing written");
	delivery_spool_destroy(&spool);
	settings.quota_permanent = true;
	delivery_spool_create(&settings, &spool, &error);
	delivery_spool_write(spool, "Subject: quota\n\nbody\n", 21, &error);
	delivery_spool_finish(spool, &env, &res);
	CHECK(delivery_store(spool, &t, &res) == DELIVERY_PERM &&
		      strcmp(res.enhanced, "5.2.2") == 0,
	      "quota: over, quota_permanent: PERM 5.2.2");
	delivery_spool_destroy(&spool);
	settings.quota_permanent = false;
}

static void test_mbox(void)
{
	struct delivery_settings set = settings;
	struct delivery_envelope env = { "a@b", NULL, true };
	struct delivery_target t = {
		.user = "u", .rcpt = "bob@x", .kind = MAILDROP_MBOX,
	};
	struct delivery_spool *spool = NULL;
	struct delivery_result res;
	char path[700];
	const char *error, *msg = "Status: RO\nSubject: m\n\nFrom here\n";
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/mbox", root);
	t.path = path;
	delivery_spool_create(&set, &spool, &error);
	delivery_spool_write(spool, msg, strlen(msg), &error);
	delivery_spool_finish(spool, &env, &res);
	CHECK(delivery_store(spool, &t, &res) == DELIVERY_OK &&
		      strcmp(res.stored_name, "mbox@0") == 0,
	      "mbox: appended at offset 0");
	CHECK(delivery_store(spool, &t, &res) == DELIVERY_OK && res.duplicate,
	      "mbox: the same message again is a duplicate");
	delivery_spool_destroy(&spool);
	data = read_file(path, &len);
	CHECK(data != NULL && strncmp(data, "From a@b ", 9) == 0 &&
		      strstr(data, "\nReturn-Path: <a@b>\nDelivered-To: bob@x\n"
				   "Subject: m\n\n>From here\n") != NULL &&
		      strstr(data, "Status") == NULL,
	      "mbox: From_ line, our headers, filtered, From quoted");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "bench DIR": 1000 single-recipient deliveries of a 4 KB message into
 * a Maildir under DIR (disk or tmpfs), and 200 with 5 recipients. */
static void bench(const char *dir)
{
	const char *paths[5], *rcpts[5] = { "a@x", "b@x", "c@x", "d@x", "e@x" };
	struct delivery_result res[5];
	char msg[4200], p[5][700];
	double t0, t1;
	int i;

	memset(msg, 'x', sizeof(msg));
	memcpy(msg, "Subject: bench\n\n", 16);
	msg[sizeof(msg) - 1] = '\0';
	for (i = 0; i < 5; i++) {
		snprintf(p[i], sizeof(p[i]), "%s/bench-%d", dir, i);
		rm_tree(p[i]);
		paths[i] = p[i];
	}
	settings.dedup_days = 7;
	t0 = now_s();
	for (i = 0; i < 1000; i++) {
		msg[20] = (char)('a' + i % 26);
		msg[21] = (char)('a' + i / 26 % 26);
		deliver(msg, strlen(msg), "s@x", paths, rcpts, 1, res);
	}
	t1 = now_s();
	printf("# %s: 1 rcpt: %.0f deliveries/s (%.2f ms each)\n", dir,
	       1000 / (t1 - t0), (t1 - t0));
	t0 = now_s();
	for (i = 0; i < 200; i++) {
		msg[22] = (char)('a' + i % 26);
		msg[23] = (char)('a' + i / 26 % 26);
		deliver(msg, strlen(msg), "s@x", paths, rcpts, 5, res);
	}
	t1 = now_s();
	printf("# %s: 5 rcpts: %.0f messages/s (%.2f ms each)\n", dir,
	       200 / (t1 - t0), (t1 - t0) * 5);
	for (i = 0; i < 5; i++)
		rm_tree(p[i]);
}

/* ORCPT naming another address becomes X-Original-To between
 * Return-Path and Delivered-To (what SDPS's *ENV reads); the same
 * address, another type, or one unsafe in a header adds nothing. */
static void test_orig_rcpt_header(void)
{
	static const struct {
		const char *orig, *want;
	} cases[] = {
		{ "rfc822;bob@dom.example", "Return-Path: <a@b>\n"
		  "X-Original-To: bob@dom.example\nDelivered-To: all@dom.example\n" },
		{ "RFC822;bob@dom.example", "Return-Path: <a@b>\n"
		  "X-Original-To: bob@dom.example\nDelivered-To: all@dom.example\n" },
		{ "bob@dom.example", "Return-Path: <a@b>\n"
		  "X-Original-To: bob@dom.example\nDelivered-To: all@dom.example\n" },
		{ "rfc822;ALL@dom.example", "Return-Path: <a@b>\n"
		  "Delivered-To: all@dom.example\n" },
		{ "utf-8;bob@dom.example", "Return-Path: <a@b>\n"
		  "Delivered-To: all@dom.example\n" },
		{ "rfc822;bob@dom.example\nX-Evil: 1", "Return-Path: <a@b>\n"
		  "Delivered-To: all@dom.example\n" },
		{ "rfc822;", "Return-Path: <a@b>\nDelivered-To: all@dom.example\n" },
	};
	struct delivery_result res;
	char name[256], label[160];
	size_t i, len;
	char *data;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rm_tree(md_path);
		test_orig_rcpt = cases[i].orig;
		snprintf(label, sizeof(label), "X-Original-To: ORCPT %s",
			 cases[i].orig);
		CHECK(deliver1("Subject: o\n\nbody\n", "a@b",
			       "all@dom.example", &res) == DELIVERY_OK &&
			      (data = stored(md_path, name, sizeof(name),
					     &len)) != NULL &&
			      strncmp(data, cases[i].want,
				      strlen(cases[i].want)) == 0 &&
			      strncmp(data + strlen(cases[i].want),
				      "Subject: o\n", 11) == 0,
		      label);
	}
	test_orig_rcpt = NULL;
}

int main(int argc, char **argv)
{
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(md_path, sizeof(md_path), "%s/Maildir", root);
	snprintf(md2_path, sizeof(md2_path), "%s/Maildir2", root);
	test_names();
	test_filter_cases();
	test_filter_values();
	test_deliver_basic();
	test_deliver_refusals();
	test_deliver_dedup();
	test_deliver_multi();
	test_quota();
	test_mbox();
	test_deliver_errors();
	test_orig_rcpt_header();
	if (argc > 2 && strcmp(argv[1], "bench") == 0)
		bench(argv[2]);
	rm_tree(root);
	return unit_done();
}
