/* test-usercmd.c: `satchel user` edits: add, passwd, del, list, kept
 * lines, modes, exit codes, and concurrent edits losing nothing. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/password.h"
#include "user/usercmd.h"
#include "unit.h"

static char tmpdir[] = "/tmp/test-usercmd.XXXXXX";
static char file[256];

/* Runs `satchel user ARGS...` with stdin_text on its stdin and its stdout
 * and stderr in out (may be NULL). Returns the exit code. */
static int run(const char *stdin_text, char *out, size_t out_size, ...)
{
	char *argv[16];
	int argc = 0, pipefd[2], saved_in, saved_out, saved_err, outfd, ret;
	char outpath[300];
	va_list ap;
	ssize_t n;

	argv[argc++] = "user";
	va_start(ap, out_size);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;

	snprintf(outpath, sizeof(outpath), "%s/out", tmpdir);
	if (pipe(pipefd) < 0)
		exit(2);
	if (stdin_text != NULL &&
	    write(pipefd[1], stdin_text, strlen(stdin_text)) < 0)
		exit(2);
	close(pipefd[1]);
	fflush(stdout);
	fflush(stderr);
	saved_in = dup(0);
	saved_out = dup(1);
	saved_err = dup(2);
	outfd = open(outpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(pipefd[0], 0);
	dup2(outfd, 1);
	dup2(outfd, 2);
	close(pipefd[0]);
	ret = usercmd_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_in, 0);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_in);
	close(saved_out);
	close(saved_err);
	if (out != NULL) {
		n = pread(outfd, out, out_size - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	close(outfd);
	return ret;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static const struct passwd_entry *load_user(struct passwd_db **db,
					    const char *user)
{
	char err[256];

	passwd_db_destroy(db);
	if (passwd_db_load(file, db, err, sizeof(err)) < 0) {
		printf("# load: %s\n", err);
		return NULL;
	}
	return passwd_db_lookup(*db, user);
}

static void test_add(void)
{
	struct passwd_db *db = NULL;
	const struct passwd_entry *e;
	char out[4096];
	struct stat st;

	CHECK(run("pw1\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "alice", NULL) == EX_OK, "add to a new file");
	CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600,
	      "new file is 0600");
	e = load_user(&db, "alice");
	CHECK(e != NULL && strncmp(e->password, "{CRYPT}$y$", 10) == 0,
	      "default scheme yescrypt");
	CHECK(e != NULL && password_verify(e->password, "pw1"),
	      "password verifies");
	CHECK(run("pw2\r\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain", "bob", NULL) == EX_OK, "add plain");
	CHECK(strstr(out, "stored in plaintext: needed for APOP and "
		     "CRAM-MD5") != NULL, "plain note printed");
	e = load_user(&db, "bob");
	CHECK(e != NULL && strcmp(e->password, "{PLAIN}pw2") == 0,
	      "plain stored, CR stripped");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "sha512-crypt", "carol", NULL) == EX_OK &&
	      run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "bcrypt", "dave", NULL) == EX_OK,
	      "add sha512-crypt and bcrypt");
	e = load_user(&db, "carol");
	CHECK(e != NULL && strncmp(e->password, "{SHA512-CRYPT}$6$", 17) == 0
	      && password_verify(e->password, "pw"), "sha512-crypt stored");
	e = load_user(&db, "dave");
	CHECK(e != NULL && strncmp(e->password, "{BLF-CRYPT}$2b$", 15) == 0
	      && password_verify(e->password, "pw"), "bcrypt stored");

	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "alice", NULL) == EX_DATAERR, "existing user refused");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "../x", NULL) == EX_DATAERR, "bad name refused");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "a:b", NULL) == EX_DATAERR, "':' in name refused");
	CHECK(run("\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "eve", NULL) == EX_DATAERR, "empty password refused");
	CHECK(run("", out, sizeof(out), "add", "-f", file, "--stdin",
		  "eve", NULL) == EX_DATAERR, "no password refused");
	CHECK(run("a:b\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain", "eve", NULL) == EX_DATAERR,
	      "plain password with ':' refused");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "md5", "eve", NULL) == EX_USAGE,
	      "unknown scheme");
	CHECK(run(NULL, out, sizeof(out), "frob", "-f", file, NULL) ==
	      EX_USAGE, "unknown action");
	CHECK(run(NULL, out, sizeof(out), "add", "-f", file, NULL) ==
	      EX_USAGE, "add without a name");
	CHECK(load_user(&db, "eve") == NULL, "eve never added");
	passwd_db_destroy(&db);
}

static void test_edit_keeps_lines(void)
{
	struct passwd_db *db = NULL;
	const struct passwd_entry *e;
	char out[4096], *text;

	put(file, "# users\n"
		  "alice:{PLAIN}old:1000:1000:Alice:/home/alice::expire=5\n"
		  "weird line without colon\n"
		  "\n"
		  "bob:{PLAIN}b\r\n"
		  "carol:{PLAIN}c");
	chmod(file, 0640);
	CHECK(run("new\n", out, sizeof(out), "passwd", "-f", file,
		  "--stdin", "--scheme", "plain", "alice", NULL) == EX_OK,
	      "passwd");
	text = slurp(file);
	CHECK_STR(text, "# users\n"
		  "alice:{PLAIN}new:1000:1000:Alice:/home/alice::expire=5\n"
		  "weird line without colon\n"
		  "\n"
		  "bob:{PLAIN}b\r\n"
		  "carol:{PLAIN}c", "passwd changes field 2 only");
	CHECK(run("nb\n", out, sizeof(out), "passwd", "-f", file,
		  "--stdin", "--scheme", "plain", "bob", NULL) == EX_OK &&
	      strstr(slurp(file), "bob:{PLAIN}nb\r\n") != NULL,
	      "passwd keeps CRLF");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain", "dave", NULL) == EX_OK &&
	      strstr(slurp(file), "carol:{PLAIN}c\ndave:{PLAIN}pw\n") != NULL,
	      "add after a last line without LF");
	CHECK(run(NULL, out, sizeof(out), "del", "-f", file, "carol",
		  NULL) == EX_OK && strstr(slurp(file), "carol") == NULL,
	      "del");
	{
		struct stat st;

		CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0640,
		      "mode kept across edits");
	}
	CHECK(strstr(slurp(file), "weird line without colon\n") != NULL,
	      "unknown line kept");
	CHECK(run(NULL, out, sizeof(out), "del", "-f", file, "carol",
		  NULL) == EX_NOUSER, "del missing user");
	CHECK(run("x\n", out, sizeof(out), "passwd", "-f", file, "--stdin",
		  "zed", NULL) == EX_NOUSER, "passwd missing user");
	e = load_user(&db, "alice");
	CHECK(e == NULL, "file with a bad line does not load (expected)");

	put(file, "alice:{PLAIN}a::::::\nbob:$6$saltsalt$x\n"
		  "carol:{CRYPT}$y$j9T$a$b::::::nologin\n"
		  "dave:{MD5}xx\n");
	CHECK(run(NULL, out, sizeof(out), "list", "-f", file, NULL) == EX_OK,
	      "list");
	CHECK_STR(out, "alice\tPLAIN\tapop\nbob\tsha512-crypt\n"
		  "carol\tyescrypt\tdisabled\ndave\tunknown\n", "list output");
	CHECK(run(NULL, out, sizeof(out), "list", "-f", "/nonexistent/x",
		  NULL) == EX_NOINPUT, "list of a missing file");
	CHECK(run(NULL, out, sizeof(out), "del", "-f", "/nonexistent/x",
		  "a", NULL) == EX_NOINPUT, "del in a missing file");
	passwd_db_destroy(&db);
}

/* --scheme lists: the first in the password field, the others in
 * secret= fields; passwd replaces the old secret= fields only. */
static void test_schemes(void)
{
	struct passwd_db *db = NULL;
	const struct passwd_entry *e;
	char out[4096], *text;

	put(file, "amy:{PLAIN}x:1:2::/h:/s:mail=maildir:~/M "
		  "secret={SCRAM-SHA-1}1,YQ==,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAA= login_delay=3\n");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "yescrypt,scram-sha-256", "ann", NULL) == EX_OK,
	      "add with two schemes");
	CHECK(strstr(out, "SCRAM-SHA-256") != NULL &&
	      strstr(out, "not APOP or CRAM-MD5") != NULL,
	      "the note names the usable mechanisms");
	e = load_user(&db, "ann");
	CHECK(e != NULL && strncmp(e->password, "{CRYPT}$y$", 10) == 0 &&
	      e->n_secrets == 1 &&
	      passwd_entry_secret(e, "SCRAM-SHA-256") != NULL &&
	      password_verify(passwd_entry_secret(e, "SCRAM-SHA-256"), "pw"),
	      "yescrypt in the password field, SCRAM secret verifies");
	passwd_db_destroy(&db);
	CHECK(run("new\n", out, sizeof(out), "passwd", "-f", file, "--stdin",
		  "--scheme", "scram-sha-256,plain", "amy", NULL) == EX_OK,
	      "passwd with plain and scram");
	text = slurp(file);
	CHECK(strstr(text, "amy:{PLAIN}new:1:2::/h:/s:mail=maildir:~/M "
		      "login_delay=3 secret={SCRAM-SHA-256}10000,") != NULL &&
	      strstr(text, "SCRAM-SHA-1") == NULL,
	      "plain goes first, old secret= dropped, other fields kept");
	e = load_user(&db, "amy");
	CHECK(e != NULL && e->login_delay == 3 && e->n_secrets == 1 &&
	      password_verify(passwd_entry_secret(e, "SCRAM-SHA-256"), "new"),
	      "the new SCRAM secret verifies");
	passwd_db_destroy(&db);
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain,plain", "bea", NULL) == EX_USAGE &&
	      run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain,md5", "bea", NULL) == EX_USAGE,
	      "duplicate or unknown scheme in a list refused");
}

/* Lines the parser refuses still belong to their user: add does not
 * make a duplicate, passwd repairs field 2, del removes them; comments
 * never match; no temporary file is left; the owner is kept. */
static void test_bad_lines(void)
{
	char out[4096], *text;
	struct stat st;
	unsigned left = 0;

	put(file, "#zoe:{PLAIN}c\n"
		  "zoe:{PLAIN}x:notanumber\n"
		  "yan:{PLAIN}y:1:2:::: \tmail=maildir:~/M  secret={PLAIN}y\n");
	CHECK(run("pw\n", out, sizeof(out), "add", "-f", file, "--stdin",
		  "--scheme", "plain", "zoe", NULL) == EX_DATAERR,
	      "add of a user whose line is refused is still a duplicate");
	CHECK(run("nz\n", out, sizeof(out), "passwd", "-f", file, "--stdin",
		  "--scheme", "plain", "zoe", NULL) == EX_OK &&
	      strcmp(slurp(file), "#zoe:{PLAIN}c\n"
		     "zoe:{PLAIN}nz:notanumber\n"
		     "yan:{PLAIN}y:1:2:::: \tmail=maildir:~/M  "
		     "secret={PLAIN}y\n") == 0,
	      "passwd of a refused line changes field 2; the comment stays");
	CHECK(run("ny\n", out, sizeof(out), "passwd", "-f", file, "--stdin",
		  "--scheme", "plain", "yan", NULL) == EX_OK,
	      "passwd with blanks around the extra fields");
	text = slurp(file);
	CHECK(strstr(text, "yan:{PLAIN}ny:1:2::::mail=maildir:~/M\n") != NULL,
	      "old secret= dropped, the other extra fields kept");
	CHECK(run(NULL, out, sizeof(out), "del", "-f", file, "zoe", NULL) ==
	      EX_OK && strcmp(slurp(file), "#zoe:{PLAIN}c\n"
			      "yan:{PLAIN}ny:1:2::::mail=maildir:~/M\n") == 0,
	      "del removes the refused line, not the comment");
	CHECK(run(NULL, out, sizeof(out), "list", "-f", file, NULL) == EX_OK &&
	      strcmp(out, "yan\tPLAIN\tapop\n") == 0, "list after the edits");
	{
		char cmd[400];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "ls -a %s | grep -c 'passwd\\.'",
			 tmpdir);
		p = popen(cmd, "r");
		if (p != NULL && fscanf(p, "%u", &left) != 1)
			left = 99;
		if (p != NULL)
			pclose(p);
		/* passwd.lock stays by design; no passwd.XXXXXX */
		CHECK(left == 1, "no temporary file left beside the file");
	}
	if (geteuid() == 0) {
		CHECK(chown(file, 12345, 23456) == 0 &&
		      run("o\n", out, sizeof(out), "passwd", "-f", file,
			  "--stdin", "--scheme", "plain", "yan", NULL) ==
		      EX_OK && stat(file, &st) == 0 && st.st_uid == 12345 &&
		      st.st_gid == 23456,
		      "the owner and group of the file are kept");
	}
}

static void test_config(void)
{
	char conf[300], out[4096];

	snprintf(conf, sizeof(conf), "%s/satchel.conf", tmpdir);
	{
		FILE *f = fopen(conf, "w");

		fprintf(f, "users = passwd-file:%s\n", file);
		fclose(f);
	}
	put(file, "");
	CHECK(run("pw\n", out, sizeof(out), "add", "-c", conf, "--stdin",
		  "--scheme", "plain", "frank", NULL) == EX_OK &&
	      strcmp(slurp(file), "frank:{PLAIN}pw\n") == 0,
	      "-c reads users from the config");
	put(conf, "users = nonsense\n");
	CHECK(run(NULL, out, sizeof(out), "list", "-c", conf, NULL) ==
	      EX_CONFIG, "bad config");
	unlink(conf);
}

/* Two groups of processes add different users at the same time; the lock
 * must keep every one of them. */
static void test_concurrent(void)
{
	struct passwd_db *db = NULL;
	unsigned i, found = 0, kids = 8, per_kid = 5;
	char name[32], err[256];

	put(file, "");
	for (i = 0; i < kids; i++) {
		if (fork() == 0) {
			unsigned j;
			int bad = 0;

			for (j = 0; j < per_kid; j++) {
				snprintf(name, sizeof(name), "u%u_%u", i, j);
				bad |= run("pw\n", NULL, 0, "add", "-f", file,
					   "--stdin", "--scheme", "plain",
					   name, NULL) != EX_OK;
			}
			_exit(bad);
		}
	}
	for (i = 0; i < kids; i++) {
		int status;

		wait(&status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "concurrent adder succeeded");
	}
	CHECK(passwd_db_load(file, &db, err, sizeof(err)) == 0,
	      "file valid after concurrent edits");
	for (i = 0; i < kids * per_kid; i++) {
		snprintf(name, sizeof(name), "u%u_%u", i / per_kid,
			 i % per_kid);
		found += passwd_db_lookup(db, name) != NULL;
	}
	CHECK(found == kids * per_kid, "no concurrent edit lost");
	passwd_db_destroy(&db);
}

int main(void)
{
	char path[300];

	if (mkdtemp(tmpdir) == NULL)
		return 2;
	snprintf(file, sizeof(file), "%s/passwd", tmpdir);
	test_add();
	test_edit_keeps_lines();
	test_schemes();
	test_bad_lines();
	test_config();
	test_concurrent();
	unlink(file);
	snprintf(path, sizeof(path), "%s.lock", file);
	unlink(path);
	snprintf(path, sizeof(path), "%s/out", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return unit_done();
}
