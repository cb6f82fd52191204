/* test-sasl.c: SCRAM secrets (parsing, deriving, checking), secret=
 * fields, and SASL exchanges against the real auth process (forked as
 * test-auth.c does) driven by GNU SASL's client side: PLAIN, LOGIN,
 * CRAM-MD5, SCRAM-SHA-1/-256 from stored secrets and from {PLAIN},
 * SCRAM-SHA-256-PLUS over a real TLS 1.3 handshake (the server side
 * through conn.c, as a worker does it), EXTERNAL, and the failures. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth/auth_process.h"
#include "auth/auth_proto.h"
#include "auth/passwd.h"
#include "auth/password.h"
#include "auth/sasl_mech.h"
#include "auth/scram.h"
#include "net/conn.h"
#include "net/fdpass.h"
#include "net/tls.h"
#include "util/config.h"
#include "util/log.h"
#include "unit.h"

/* "pencil" with RFC 7677's salt, computed independently (Python hashlib) */
#define PENCIL_256 "4096,W22ZaJ0SNY7soEsUEjb6gQ==," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=," \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define PENCIL_1 "4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=," \
	"D+CSWLOshSulAsxiupA+qs2/fTE="

static char tmpdir[] = "/tmp/test-sasl.XXXXXX";
static char path_passwd[256], path_log[256], path_cert[256], path_key[256];
static int control_fd = -1;
static pid_t child = -1;
static uint32_t next_id = 1;
static Gsasl *gctx;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* ---- stored secrets ---- */

static void test_scram_secrets(void)
{
	struct scram_secret sc;
	const char *error = NULL;
	char made[512], line[1024];
	struct passwd_entry e;

	CHECK(scram_parse(SCRAM_SHA256, PENCIL_256, &sc, &error) == 0 &&
	      sc.iter == 4096 && sc.salt_len == 16 && sc.key_len == 32,
	      "parse Dovecot's SCRAM-SHA-256 form");
	CHECK(scram_verify_password(&sc, "pencil") &&
	      !scram_verify_password(&sc, "pencil2"),
	      "SCRAM-SHA-256 secret checks a password");
	CHECK(scram_parse(SCRAM_SHA1, PENCIL_1, &sc, &error) == 0 &&
	      scram_verify_password(&sc, "pencil"), "SCRAM-SHA-1 too");
	CHECK(scram_parse(SCRAM_SHA1, PENCIL_256, &sc, &error) < 0,
	      "a SHA-256 key is refused as SHA-1");
	CHECK(scram_parse(SCRAM_SHA256, "0,YQ==,AAAA,AAAA", &sc, &error) < 0 &&
	      scram_parse(SCRAM_SHA256, "4096,Y Q==,x,y", &sc, &error) < 0 &&
	      scram_parse(SCRAM_SHA256, "4096,YQ==,a", &sc, &error) < 0 &&
	      scram_parse(SCRAM_SHA256, PENCIL_256 ",x", &sc, &error) < 0 &&
	      scram_parse(SCRAM_SHA256, "99999999999,YQ==,x,y", &sc,
			  &error) < 0,
	      "bad counts, base64, field numbers refused");
	CHECK(password_verify("{SCRAM-SHA-256}" PENCIL_256, "pencil") &&
	      !password_verify("{SCRAM-SHA-256}" PENCIL_256, "x") &&
	      password_verify("{scram-sha-1}" PENCIL_1, "pencil"),
	      "USER/PASS against a SCRAM secret");
	CHECK(password_scheme_known("{SCRAM-SHA-256}" PENCIL_256) &&
	      !password_scheme_known("{SCRAM-SHA-256}4096,YQ=="),
	      "malformed SCRAM secret is an unknown scheme");
	CHECK(password_hash("scram-sha-256", "s3cret", made,
			    sizeof(made)) == 0 &&
	      strncmp(made, "{SCRAM-SHA-256}10000,", 21) == 0 &&
	      password_verify(made, "s3cret") && !password_verify(made, "s3"),
	      "made SCRAM-SHA-256 secret round-trips");
	CHECK(password_hash("scram-sha-1", "s3cret", made, sizeof(made)) == 0 &&
	      password_verify(made, "s3cret"), "made SCRAM-SHA-1 secret");

	snprintf(line, sizeof(line), "u:{CRYPT}$y$x:1:1::::mail=maildir:~/M "
		 "secret={SCRAM-SHA-256}%s secret={PLAIN}pw", PENCIL_256);
	CHECK(passwd_parse_line(line, &e, &error) == 0 && e.n_secrets == 2 &&
	      passwd_entry_secret(&e, "scram-sha-256") == e.secrets[0] &&
	      passwd_entry_secret(&e, "PLAIN") == e.secrets[1] &&
	      passwd_entry_secret(&e, "CRYPT") == e.password &&
	      passwd_entry_secret(&e, "SCRAM-SHA-1") == NULL,
	      "secret= fields found by scheme");
	snprintf(line, sizeof(line), "u:{PLAIN}a::::::secret={CLEAR}b");
	CHECK(passwd_parse_line(line, &e, &error) < 0,
	      "two secrets of one scheme refused");
	snprintf(line, sizeof(line), "u:{PLAIN}a::::::secret=b");
	CHECK(passwd_parse_line(line, &e, &error) < 0,
	      "secret= without a scheme refused");
}

static void test_mech_table(void)
{
	unsigned mask = 0;
	const char *bad = NULL;
	size_t i;

	CHECK(sasl_mech_parse_list("plain, scram-sha-256-plus LOGIN", &mask,
				   &bad) == 0 && mask != 0,
	      "mechanism list parses case-insensitively");
	CHECK(sasl_mech_find("SCRAM-SHA-256-PLUS", &i) != NULL &&
	      (mask & (1u << i)) && sasl_mech_find("CRAM-MD5", &i) != NULL &&
	      !(mask & (1u << i)), "mask has exactly the listed ones");
	CHECK(sasl_mech_parse_list("PLAIN DIGEST-MD5", &mask, &bad) < 0 &&
	      strcmp(bad, "DIGEST-MD5") == 0, "unknown mechanism named");
	CHECK(sasl_mech_parse_list("", &mask, &bad) == 0 && mask == 0,
	      "empty list disables AUTH");
}

/* ---- the auth process ---- */

static void start(struct config *cfg)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		exit(2);
	fflush(stdout);
	child = fork();
	if (child == 0) {
		const char *error;

		close(sv[0]);
		if (log_init(path_log, LOG_LEVEL_DEBUG, &error) < 0)
			_exit(99);
		exit(auth_process_run(cfg, sv[1]));
	}
	close(sv[1]);
	control_fd = sv[0];
}

static int attach(uint32_t slot)
{
	struct auth_control ctl = { .slot = slot };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0 ||
	    fdpass_send(control_fd, &ctl, sizeof(ctl), sv[1]) < 0)
		exit(2);
	close(sv[1]);
	return sv[0];
}

static struct auth_sasl_request sreq;
static struct auth_reply srep;

static void send_sasl(int fd, uint32_t type, uint32_t id, const char *mech,
		      const void *data, size_t len, bool has_data)
{
	size_t n;

	memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
	sreq.type = type;
	sreq.id = id;
	snprintf(sreq.mech, sizeof(sreq.mech), "%s", mech != NULL ? mech : "");
	snprintf(sreq.client_addr, sizeof(sreq.client_addr), "192.0.2.9");
	sreq.secured = 1;
	sreq.has_data = has_data;
	if (len > 0)
		memcpy(sreq.data, data, len);
	sreq.data_len = (uint32_t)len;
	n = AUTH_SASL_REQUEST_HDR + len;
	if (send(fd, &sreq, n, MSG_NOSIGNAL) != (ssize_t)n)
		exit(2);
}

/* The next reply within 5 s: its result, or -1. */
static int get_reply(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	n = recv(fd, &srep, sizeof(srep), 0);
	if (n < (ssize_t)AUTH_REPLY_HDR || srep.data_len > AUTH_SASL_OUT_MAX ||
	    (size_t)n != AUTH_REPLY_HDR + srep.data_len)
		return -1;
	return (int)srep.result;
}

struct exch {
	const char *mech;        /* client mechanism */
	const char *server_mech; /* sent to the server, if different */
	const char *user, *password, *authzid;
	const unsigned char *cb_server; /* tls-exporter the worker sends */
	const unsigned char *cb_client; /* what the client binds to */
	const char *peer_cn;
	bool tamper;             /* flip a bit in the client's last message */
};

/* Runs a whole exchange, the gsasl client against the auth process.
 * Returns the final result (AUTH_OK ...), or -2 when the client refused
 * the server (e.g. a bad server signature). */
static int run_exchange(int fd, const struct exch *x)
{
	Gsasl_session *cs = NULL;
	uint32_t id = next_id++;
	int result = -1, rc;
	unsigned steps = 0;
	char *b64;

	if (gsasl_client_start(gctx, x->mech, &cs) != GSASL_OK)
		return -3;
	gsasl_property_set(cs, GSASL_AUTHID, x->user);
	gsasl_property_set(cs, GSASL_PASSWORD, x->password);
	if (x->authzid != NULL)
		gsasl_property_set(cs, GSASL_AUTHZID, x->authzid);
	if (x->cb_client != NULL) {
		gsasl_base64_to((const char *)x->cb_client, 32, &b64, NULL);
		gsasl_property_set(cs, GSASL_CB_TLS_EXPORTER, b64);
		gsasl_free(b64);
	}
	memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
	sreq.type = AUTH_REQ_SASL_START;
	sreq.id = id;
	snprintf(sreq.mech, sizeof(sreq.mech), "%s",
		 x->server_mech != NULL ? x->server_mech : x->mech);
	snprintf(sreq.client_addr, sizeof(sreq.client_addr), "192.0.2.9");
	snprintf(sreq.peer_cn, sizeof(sreq.peer_cn), "%s",
		 x->peer_cn != NULL ? x->peer_cn : "");
	sreq.secured = 1;
	if (x->cb_server != NULL) {
		memcpy(sreq.cb_exporter, x->cb_server, 32);
		sreq.cb_exporter_len = 32;
	}
	if (send(fd, &sreq, AUTH_SASL_REQUEST_HDR, MSG_NOSIGNAL) !=
	    (ssize_t)AUTH_SASL_REQUEST_HDR)
		exit(2);
	for (;;) {
		char *out = NULL;
		size_t out_len = 0;

		result = get_reply(fd);
		if (result != AUTH_CONTINUE || ++steps > 10)
			break;
		rc = gsasl_step(cs, (const char *)srep.data, srep.data_len,
				&out, &out_len);
		if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
			gsasl_free(out);
			send_sasl(fd, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0,
				  false);
			result = -2;
			break;
		}
		if (x->tamper && out_len > 8 && memmem(out, out_len, "p=", 2))
			out[out_len - 3] ^= 1;
		send_sasl(fd, AUTH_REQ_SASL_CONTINUE, id, NULL, out, out_len,
			  true);
		gsasl_free(out);
	}
	gsasl_finish(cs);
	return result;
}

static const char *const users_text =
	"plainy:{PLAIN}pencil:1000:1000\n"
	"scram:{CRYPT}$y$j9T$x$y:1001:1001::::secret={SCRAM-SHA-256}"
	PENCIL_256 " secret={SCRAM-SHA-1}" PENCIL_1 "\n"
	"hashed:{SHA512-CRYPT}$6$x$y:1002:1002\n"
	"scramonly:{SCRAM-SHA-256}" PENCIL_256 ":1003:1003\n"
	"certuser:{CRYPT}$y$j9T$x$y:1004:1004\n"
	"locked:{PLAIN}pencil:1005:1005::::nologin\n";

static void test_simple(int w)
{
	static const char plain_ok[] = "\0plainy\0pencil";
	static const char plain_bad[] = "\0plainy\0pencel";
	static const char plain_proxy[] = "scram\0plainy\0pencil";
	static const char scram_plain[] = "\0scramonly\0pencil";

	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", plain_ok,
		  sizeof(plain_ok) - 1, true);
	CHECK(get_reply(w) == AUTH_OK && strcmp(srep.user, "plainy") == 0 &&
	      srep.uid == 1000, "PLAIN with initial response");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", plain_bad,
		  sizeof(plain_bad) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN wrong password");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", plain_proxy,
		  sizeof(plain_proxy) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN authzid of another user");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", scram_plain,
		  sizeof(scram_plain) - 1, true);
	CHECK(get_reply(w) == AUTH_OK, "PLAIN against a {SCRAM-SHA-256} "
	      "password field");
	send_sasl(w, AUTH_REQ_SASL_START, next_id, "PLAIN", NULL, 0, false);
	CHECK(get_reply(w) == AUTH_CONTINUE && srep.data_len == 0,
	      "PLAIN without initial response: empty challenge");
	send_sasl(w, AUTH_REQ_SASL_CONTINUE, next_id, NULL, plain_ok,
		  sizeof(plain_ok) - 1, true);
	CHECK(get_reply(w) == AUTH_OK, "PLAIN in the continuation");
	next_id++;
	send_sasl(w, AUTH_REQ_SASL_START, next_id, "LOGIN", "plainy", 6,
		  true);
	CHECK(get_reply(w) == AUTH_CONTINUE && srep.data_len == 8 &&
	      memcmp(srep.data, "Password", 8) == 0,
	      "LOGIN: user name as initial response");
	send_sasl(w, AUTH_REQ_SASL_CONTINUE, next_id, NULL, "pencil", 6, true);
	CHECK(get_reply(w) == AUTH_OK, "LOGIN succeeds");
	next_id++;
	send_sasl(w, AUTH_REQ_SASL_START, next_id, "LOGIN", NULL, 0, false);
	CHECK(get_reply(w) == AUTH_CONTINUE, "LOGIN asks for the name");
	send_sasl(w, AUTH_REQ_SASL_ABORT, next_id, NULL, NULL, 0, false);
	send_sasl(w, AUTH_REQ_SASL_CONTINUE, next_id, NULL, "plainy", 6, true);
	CHECK(get_reply(w) == AUTH_FAILED, "no exchange after an abort");
	next_id++;
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "DIGEST-MD5", NULL, 0,
		  false);
	CHECK(get_reply(w) == AUTH_FAILED, "unknown mechanism fails");
}

static void test_challenge_response(int w)
{
	struct exch x = { .mech = "CRAM-MD5", .user = "plainy",
			  .password = "pencil" };

	CHECK(run_exchange(w, &x) == AUTH_OK, "CRAM-MD5 with {PLAIN}");
	x.password = "pencel";
	CHECK(run_exchange(w, &x) == AUTH_FAILED, "CRAM-MD5 wrong password");
	x.user = "hashed";
	x.password = "pencil";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "CRAM-MD5 needs a {PLAIN} secret");
	x.user = "locked";
	CHECK(run_exchange(w, &x) == AUTH_FAILED, "disabled account fails");

	x = (struct exch){ .mech = "SCRAM-SHA-256", .user = "scram",
			   .password = "pencil" };
	CHECK(run_exchange(w, &x) == AUTH_OK && srep.uid == 1001,
	      "SCRAM-SHA-256 from a stored secret (and v= checked)");
	x.mech = "SCRAM-SHA-1";
	CHECK(run_exchange(w, &x) == AUTH_OK, "SCRAM-SHA-1 stored secret");
	x.user = "scramonly";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "SCRAM-SHA-1 without a SHA-1 secret or {PLAIN}");
	x.mech = "SCRAM-SHA-256";
	CHECK(run_exchange(w, &x) == AUTH_OK,
	      "SCRAM-SHA-256 from the password field");
	x.user = "plainy";
	CHECK(run_exchange(w, &x) == AUTH_OK, "SCRAM-SHA-256 from {PLAIN}");
	x.password = "pencel";
	CHECK(run_exchange(w, &x) == AUTH_FAILED, "SCRAM wrong password");
	x.password = "pencil";
	x.tamper = true;
	CHECK(run_exchange(w, &x) == AUTH_FAILED, "SCRAM wrong proof");
	x.tamper = false;
	x.user = "nosuchuser";
	CHECK(run_exchange(w, &x) == AUTH_FAILED, "SCRAM unknown user");
	x.user = "scram";
	x.authzid = "plainy";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "SCRAM authzid of another user");
}

/* ---- TLS for -PLUS: server through conn.c, client plain OpenSSL ---- */

static int make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	if (key == NULL || x == NULL)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		return -1;
	f = fopen(path_cert, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(path_key, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
	return 0;
}

/* One TLS 1.3 connection over a socketpair; both ends' tls-exporter. */
static int tls_binding(struct tls_ctx *tctx, unsigned char *server_cb,
		       unsigned char *client_cb)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct conn c;
	SSL *cl;
	int sv[2], done = 0, i, n = -1;

	if (cctx == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	cl = SSL_new(cctx);
	SSL_set_fd(cl, sv[1]);
	SSL_set_connect_state(cl);
	conn_init(&c, sv[0]);
	if (conn_start_tls(&c, tctx) < 0)
		goto out;
	/* non-blocking both ways, one thread: step each side in turn */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	for (i = 0; i < 200 && done != 3; i++) {
		struct pollfd p = { .fd = sv[0], .events = POLLIN };

		if (!(done & 1) && SSL_do_handshake(cl) == 1)
			done |= 1;
		if (!(done & 2) && conn_handshake(&c) == 1)
			done |= 2;
		(void)poll(&p, 1, 10);
	}
	if (done == 3 &&
	    SSL_export_keying_material(cl, client_cb, 32, label,
				       sizeof(label) - 1, NULL, 0, 0) == 1)
		n = conn_channel_binding(&c, "tls-exporter", server_cb, 64);
out:
	conn_deinit(&c);
	SSL_free(cl);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return n;
}

static void test_plus(int w, struct tls_ctx *tctx)
{
	unsigned char s1[64], c1[32], s2[64], c2[32];
	struct exch x = { .mech = "SCRAM-SHA-256-PLUS", .user = "scram",
			  .password = "pencil" };
	int n1, n2;

	n1 = tls_binding(tctx, s1, c1);
	n2 = tls_binding(tctx, s2, c2);
	CHECK(n1 == 32 && n2 == 32 && memcmp(s1, c1, 32) == 0 &&
	      memcmp(s2, c2, 32) == 0 && memcmp(s1, s2, 32) != 0,
	      "tls-exporter: both ends agree, two connections differ");
	x.cb_server = s1;
	x.cb_client = c1;
	CHECK(run_exchange(w, &x) == AUTH_OK,
	      "SCRAM-SHA-256-PLUS with tls-exporter over real TLS");
	x.mech = x.server_mech = "SCRAM-SHA-1-PLUS";
	CHECK(run_exchange(w, &x) == AUTH_OK, "SCRAM-SHA-1-PLUS");
	x.mech = "SCRAM-SHA-256-PLUS";
	x.server_mech = NULL;
	x.cb_client = c2;
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "-PLUS channel-binding mismatch (other connection) fails");
	x.cb_client = c1;
	x.cb_server = NULL;
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "-PLUS without server binding data fails");
	/* the client could bind ("y"), the server could too: a -PLUS was
	 * stripped on the way (RFC 5802 6.) */
	x = (struct exch){ .mech = "SCRAM-SHA-256", .user = "scram",
			   .password = "pencil", .cb_server = s1,
			   .cb_client = c1 };
	{
		static const char first[] = "y,,n=scram,r=fyko+d2lbbFgONRv9qkxdawL";
		uint32_t id = next_id++;

		send_sasl(w, AUTH_REQ_SASL_START, id, "SCRAM-SHA-256", first,
			  sizeof(first) - 1, true);
		/* resend with the binding data the worker would add */
		memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
		sreq.type = AUTH_REQ_SASL_START;
		sreq.id = id;
		snprintf(sreq.mech, sizeof(sreq.mech), "SCRAM-SHA-256");
		sreq.has_data = 1;
		sreq.cb_exporter_len = 32;
		memcpy(sreq.cb_exporter, s1, 32);
		memcpy(sreq.data, first, sizeof(first) - 1);
		sreq.data_len = sizeof(first) - 1;
		CHECK(get_reply(w) == AUTH_CONTINUE,
		      "client says y, server has no binding: fine");
		send(w, &sreq, AUTH_SASL_REQUEST_HDR + sreq.data_len,
		     MSG_NOSIGNAL);
		CHECK(get_reply(w) == AUTH_FAILED,
		      "downgrade from -PLUS detected (gs2 flag y)");
	}
	x.cb_client = NULL;
	CHECK(run_exchange(w, &x) == AUTH_OK,
	      "non-PLUS SCRAM on TLS without binding (flag n) works");
}

static void test_external(int w)
{
	struct exch x = { .mech = "EXTERNAL", .user = "", .password = "",
			  .peer_cn = "certuser" };

	CHECK(run_exchange(w, &x) == AUTH_OK &&
	      strcmp(srep.user, "certuser") == 0,
	      "EXTERNAL: the certificate CN names the user");
	x.authzid = "certuser";
	CHECK(run_exchange(w, &x) == AUTH_OK, "EXTERNAL with that authzid");
	x.authzid = "plainy";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "EXTERNAL authzid other than the CN fails");
	x.authzid = NULL;
	x.peer_cn = "";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "EXTERNAL without a verified certificate fails");
	x.peer_cn = "nosuchuser";
	CHECK(run_exchange(w, &x) == AUTH_FAILED,
	      "EXTERNAL for an unknown user fails");
}

static void test_hostile(int w, int w2)
{
	char junk[64];
	uint32_t id = next_id++;

	/* a SASL header announcing more data than it carries */
	memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
	sreq.type = AUTH_REQ_SASL_START;
	sreq.id = id;
	sreq.data_len = 100;
	send(w, &sreq, AUTH_SASL_REQUEST_HDR + 10, MSG_NOSIGNAL);
	memset(junk, 0x41, sizeof(junk));
	send(w, junk, sizeof(junk), MSG_NOSIGNAL);
	/* the exchange of another slot is not reachable from this one */
	send_sasl(w2, AUTH_REQ_SASL_START, id, "LOGIN", NULL, 0, false);
	CHECK(get_reply(w2) == AUTH_CONTINUE, "slot 2 starts LOGIN");
	send_sasl(w, AUTH_REQ_SASL_CONTINUE, id, NULL, "plainy", 6, true);
	CHECK(get_reply(w) == AUTH_FAILED,
	      "malformed messages dropped; other slot's exchange unseen");
	send_sasl(w2, AUTH_REQ_SASL_CONTINUE, id, NULL, "plainy", 6, true);
	CHECK(get_reply(w2) == AUTH_CONTINUE, "slot 2's exchange intact");
	send_sasl(w2, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
}

int main(void)
{
	struct tls_ctx *tctx = NULL;
	struct config cfg;
	char err[256], *log;
	int w, w2, status;

	if (mkdtemp(tmpdir) == NULL || gsasl_init(&gctx) != GSASL_OK)
		return 2;
	snprintf(path_passwd, sizeof(path_passwd), "%s/passwd", tmpdir);
	snprintf(path_log, sizeof(path_log), "%s/log", tmpdir);
	snprintf(path_cert, sizeof(path_cert), "%s/cert.pem", tmpdir);
	snprintf(path_key, sizeof(path_key), "%s/key.pem", tmpdir);
	put(path_passwd, users_text);

	test_scram_secrets();
	test_mech_table();

	config_defaults(&cfg);
	/* the default is PLAIN LOGIN; every mechanism is tested */
	CHECK(config_override(&cfg, "sasl_mechanisms=SCRAM-SHA-256-PLUS "
			      "SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 "
			      "CRAM-MD5 EXTERNAL PLAIN LOGIN", err,
			      sizeof(err)) == 0, "every mechanism enabled");
	snprintf(cfg.passwd_file, sizeof(cfg.passwd_file), "%s", path_passwd);
	cfg.state_dir[0] = '\0';
	cfg.max_sessions_per_user = 0;
	cfg.tls_verify_client = TLS_VERIFY_OPTIONAL;
	snprintf(cfg.mail_pattern, sizeof(cfg.mail_pattern), "/var/mail/%%n");
	CHECK(make_cert() == 0, "test certificate made");

	start(&cfg);
	w = attach(3);
	w2 = attach(4);
	test_simple(w);
	test_challenge_response(w);

	/* the worker's TLS context: tls_cert/tls_key, TLS 1.3 */
	snprintf(cfg.tls_cert, sizeof(cfg.tls_cert), "%s", path_cert);
	snprintf(cfg.tls_key, sizeof(cfg.tls_key), "%s", path_key);
	cfg.tls_verify_client = TLS_VERIFY_NO;
	CHECK(tls_ctx_create(&cfg, &tctx, err, sizeof(err)) == 0 &&
	      tctx != NULL, "TLS context");
	if (tctx != NULL)
		test_plus(w, tctx);
	tls_ctx_destroy(&tctx);
	test_external(w);
	test_hostile(w, w2);

	close(w);
	close(w2);
	close(control_fd);
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "auth process exits cleanly");
	log = slurp(path_log);
	CHECK(strstr(log, "pencil") == NULL && strstr(log, "pencel") == NULL,
	      "no password in the log");
	CHECK(strstr(log, "auth failed: mech=SCRAM-SHA-256 user=nosuchuser "
		     "rip=192.0.2.9") != NULL, "failures logged with mech");
	gsasl_done(gctx);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cp %s /tmp/sasl-test.log; rm -rf %s", path_log, tmpdir);
		if (system(cmd) != 0)
			return 2;
	}
	return unit_done();
}
