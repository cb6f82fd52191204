/* test-sasl.c: SCRAM secrets (parsing, deriving, checking), secret=
 * fields, and SASL exchanges against the real auth process (forked as
 * test-auth.c does) driven by GNU SASL's client side: PLAIN, LOGIN,
 * CRAM-MD5, SCRAM-SHA-1/-256 from stored secrets and from {PLAIN},
 * SCRAM-SHA-256-PLUS over a real TLS 1.3 handshake (the server side
 * through conn.c, as a worker does it), EXTERNAL, and the failures.
 * -PLUS with tls-server-end-point (scram_server.c; gsasl's client cannot
 * do it) is driven by a small SCRAM client here, its binding computed
 * from the peer certificate the TLS client saw. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth/auth_process.h"
#include "auth/auth_proto.h"
#include "auth/passwd.h"
#include "auth/password.h"
#include "auth/sasl_mech.h"
#include "auth/scram.h"
#include "auth/scram_server.h"
#include "config/config.h"
#include "net/conn.h"
#include "net/fdpass.h"
#include "net/tls.h"
#include "unit.h"
#include "util/log.h"

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
		exit(auth_process_run(&cfg->auth, sv[1]));
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

	do {
		if (poll(&pfd, 1, 5000) != 1)
			return -1;
		n = recv(fd, &srep, sizeof(srep), 0);
		if (n < (ssize_t)AUTH_REPLY_HDR ||
		    srep.data_len > AUTH_SASL_OUT_MAX ||
		    (size_t)n != AUTH_REPLY_HDR + srep.data_len)
			return -1;
		/* the unsolicited hello of a new worker socket */
	} while (srep.id == 0 && srep.result == AUTH_HELLO);
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
	"locked:{PLAIN}pencil:1005:1005::::nologin\n"
	"o,b=x:{PLAIN}pencil:1006:1006\n";

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

/* RFC 5929 4.1 from the certificate a client sees: hashed with the hash
 * of its signature, MD5 and SHA-1 replaced by SHA-256. Length or -1. */
static int cert_endpoint(X509 *cert, unsigned char *out)
{
	const EVP_MD *md;
	unsigned int len = 0;
	int mdnid = NID_undef;

	if (cert == NULL ||
	    !X509_get_signature_info(cert, &mdnid, NULL, NULL, NULL))
		return -1;
	md = mdnid == NID_md5 || mdnid == NID_sha1 ? EVP_sha256() :
	     EVP_get_digestbynid(mdnid);
	if (md == NULL || X509_digest(cert, md, out, &len) != 1)
		return -1;
	return (int)len;
}

/* A certificate that is not the server's, signed with hash: its binding. */
static int other_cert_endpoint(const EVP_MD *hash, unsigned char *out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	int n = -1;

	if (key != NULL && x != NULL) {
		ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
		X509_gmtime_adj(X509_getm_notBefore(x), -60);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		X509_set_pubkey(x, key);
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
					   MBSTRING_ASC,
					   (const unsigned char *)"other", -1,
					   -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(x));
		if (X509_sign(x, key, hash) != 0)
			n = cert_endpoint(x, out);
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return n;
}

/* tls-server-end-point of the last tls_binding() connection: what the
 * worker sends (conn.c) and what the client computed on its own. */
static unsigned char ep_server[64], ep_client[64];
static int ep_server_len, ep_client_len;

/* One TLS connection (version: TLS1_3_VERSION or TLS1_2_VERSION) over a
 * socketpair; both ends' tls-exporter, and ep_* above. */
static int tls_binding_v(struct tls_ctx *tctx, int version,
			 unsigned char *server_cb, unsigned char *client_cb)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct conn c;
	SSL *cl;
	int sv[2], done = 0, i, n = -1;

	if (cctx == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
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
	ep_server_len = ep_client_len = -1;
	if (done == 3) {
		ep_server_len = conn_channel_binding(&c, "tls-server-end-point",
						     ep_server,
						     sizeof(ep_server));
		ep_client_len = cert_endpoint(SSL_get0_peer_certificate(cl),
					      ep_client);
	}
out:
	conn_deinit(&c);
	SSL_free(cl);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return n;
}

static int tls_binding(struct tls_ctx *tctx, unsigned char *server_cb,
		       unsigned char *client_cb)
{
	return tls_binding_v(tctx, TLS1_3_VERSION, server_cb, client_cb);
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

/* ---- tls-server-end-point: a SCRAM client of our own ---- */

static size_t b64_enc(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decodes base64 (no blanks) into out; the length, or -1. */
static int b64_dec(const char *in, size_t len, unsigned char *out)
{
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);

	if (n < 0)
		return -1;
	while (len > 0 && in[len - 1] == '=') {
		len--;
		n--;
	}
	return n;
}

enum ep_tamper { EP_NONE, EP_PROOF, EP_CBIND, EP_NONCE, EP_PROOF_B64 };

struct ep_exch {
	const char *mech;
	const char *user;       /* as sent in n=, escaped */
	const char *password;
	const char *authzid;    /* as sent in a=, or NULL */
	const char *cb_name;    /* default tls-server-end-point */
	const unsigned char *cb_server; /* the worker's (cb2) */
	int cb_server_len;
	const unsigned char *cb_client; /* what the client binds to */
	int cb_client_len;
	const unsigned char *exporter;  /* the worker's tls-exporter */
	enum ep_tamper tamper;
	char salt_seen[128];    /* s= of the server-first message */
};

static void send_start_cb(int fd, uint32_t id, const char *mech,
			  const char *data, const unsigned char *cb2,
			  int cb2_len, const unsigned char *exporter)
{
	size_t len = strlen(data), n;

	memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
	sreq.type = AUTH_REQ_SASL_START;
	sreq.id = id;
	snprintf(sreq.mech, sizeof(sreq.mech), "%s", mech);
	snprintf(sreq.client_addr, sizeof(sreq.client_addr), "192.0.2.9");
	sreq.secured = 1;
	sreq.has_data = 1;
	if (exporter != NULL) {
		memcpy(sreq.cb_exporter, exporter, 32);
		sreq.cb_exporter_len = 32;
	}
	if (cb2 != NULL && cb2_len > 0) {
		sreq.cb2_type = AUTH_CB_TLS_SERVER_END_POINT;
		sreq.cb2_len = (uint32_t)cb2_len;
		memcpy(sreq.cb2, cb2, (size_t)cb2_len);
	}
	memcpy(sreq.data, data, len);
	sreq.data_len = (uint32_t)len;
	n = AUTH_SASL_REQUEST_HDR + len;
	if (send(fd, &sreq, n, MSG_NOSIGNAL) != (ssize_t)n)
		exit(2);
}

/* A whole -PLUS exchange (RFC 5802 client side). The final result, -2
 * when the server's signature is wrong, -3 on a malformed server-first. */
static int run_endpoint(int fd, struct ep_exch *x)
{
	const EVP_MD *md = strncmp(x->mech, "SCRAM-SHA-1", 11) == 0 ?
			   EVP_sha1() : EVP_sha256();
	int klen = EVP_MD_get_size(md), salt_len, i;
	unsigned char salt[128], salted[64], ckey[64], skey[64], stored[64],
		      sig[64], proof[64], cbind[256];
	char gs2[300], first[600], sfirst[600], final[1500], auth[3000],
	     nonce[40], cb64[400], proof64[100], v64[100];
	const char *r, *sp, *ip;
	unsigned int len;
	uint32_t id = next_id++;
	size_t gs2_len, n;
	int result;

	RAND_bytes(salted, 18);
	b64_enc(salted, 18, nonce);
	snprintf(gs2, sizeof(gs2), "p=%s,%s%s,",
		 x->cb_name != NULL ? x->cb_name : "tls-server-end-point",
		 x->authzid != NULL ? "a=" : "",
		 x->authzid != NULL ? x->authzid : "");
	snprintf(first, sizeof(first), "%sn=%s,r=%s", gs2, x->user, nonce);
	send_start_cb(fd, id, x->mech, first, x->cb_server, x->cb_server_len,
		      x->exporter);
	result = get_reply(fd);
	if (result != AUTH_CONTINUE)
		return result;
	snprintf(sfirst, sizeof(sfirst), "%.*s", (int)srep.data_len,
		 (const char *)srep.data);
	r = strstr(sfirst, "r=");
	sp = strstr(sfirst, ",s=");
	ip = strstr(sfirst, ",i=");
	if (r != sfirst || sp == NULL || ip == NULL ||
	    strncmp(r + 2, nonce, strlen(nonce)) != 0) {
		send_sasl(fd, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
		return -3;
	}
	snprintf(x->salt_seen, sizeof(x->salt_seen), "%.*s",
		 (int)(ip - sp - 3), sp + 3);
	salt_len = b64_dec(sp + 3, (size_t)(ip - sp - 3), salt);
	if (salt_len <= 0 ||
	    PKCS5_PBKDF2_HMAC(x->password, (int)strlen(x->password), salt,
			      salt_len, atoi(ip + 3), md, klen, salted) != 1)
		exit(2);
	HMAC(md, salted, klen, (const unsigned char *)"Client Key", 10, ckey,
	     &len);
	HMAC(md, salted, klen, (const unsigned char *)"Server Key", 10, skey,
	     &len);
	EVP_Digest(ckey, (size_t)klen, stored, &len, md, NULL);
	gs2_len = strlen(gs2);
	memcpy(cbind, gs2, gs2_len);
	memcpy(cbind + gs2_len, x->cb_client, (size_t)x->cb_client_len);
	b64_enc(cbind, gs2_len + (size_t)x->cb_client_len, cb64);
	if (x->tamper == EP_CBIND)
		cb64[2] ^= 1;
	n = (size_t)snprintf(final, sizeof(final), "c=%s,r=%.*s", cb64,
			     (int)(sp - r - 2), r + 2);
	if (x->tamper == EP_NONCE)
		final[n - 1] ^= 1;
	snprintf(auth, sizeof(auth), "%s,%s,%s", first + gs2_len, sfirst,
		 final);
	HMAC(md, stored, klen, (const unsigned char *)auth, strlen(auth), sig,
	     &len);
	for (i = 0; i < klen; i++)
		proof[i] = ckey[i] ^ sig[i];
	if (x->tamper == EP_PROOF)
		proof[0] ^= 1;
	b64_enc(proof, (size_t)klen, proof64);
	if (x->tamper == EP_PROOF_B64)
		proof64[3] = '!';
	snprintf(final + n, sizeof(final) - n, ",p=%s", proof64);
	send_sasl(fd, AUTH_REQ_SASL_CONTINUE, id, NULL, final, strlen(final),
		  true);
	result = get_reply(fd);
	if (result != AUTH_CONTINUE)
		return result;
	HMAC(md, skey, klen, (const unsigned char *)auth, strlen(auth), sig,
	     &len);
	b64_enc(sig, (size_t)klen, v64);
	if (srep.data_len != strlen(v64) + 2 ||
	    memcmp(srep.data, "v=", 2) != 0 ||
	    memcmp(srep.data + 2, v64, strlen(v64)) != 0) {
		send_sasl(fd, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
		return -2;
	}
	send_sasl(fd, AUTH_REQ_SASL_CONTINUE, id, NULL, NULL, 0, true);
	return get_reply(fd);
}

/* The s= a gsasl SCRAM exchange sends for user (NUL-terminated in out). */
static void gsasl_salt(int fd, const char *mech, const char *user,
		       char *out, size_t size)
{
	char first[300];
	uint32_t id = next_id++;
	const char *sp, *ip;

	out[0] = '\0';
	snprintf(first, sizeof(first), "n,,n=%s,r=abcdefghijkl", user);
	send_sasl(fd, AUTH_REQ_SASL_START, id, mech, first, strlen(first),
		  true);
	if (get_reply(fd) == AUTH_CONTINUE) {
		char sf[600];

		snprintf(sf, sizeof(sf), "%.*s", (int)srep.data_len,
			 (const char *)srep.data);
		sp = strstr(sf, ",s=");
		ip = strstr(sf, ",i=");
		if (sp != NULL && ip != NULL)
			snprintf(out, size, "%.*s", (int)(ip - sp - 3),
				 sp + 3);
	}
	send_sasl(fd, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
}

static void test_scram_server_parse(void)
{
	struct scram_client_first cf;
	const char *why;
#define PARSE(str) scram_parse_client_first((const unsigned char *)(str), \
					    sizeof(str) - 1, &cf, &why)

	CHECK(PARSE("p=tls-server-end-point,,n=user,r=abc") == 0 &&
	      cf.cbind_flag == 'p' &&
	      strcmp(cf.cb_name, "tls-server-end-point") == 0 &&
	      strcmp(cf.user, "user") == 0 && cf.authzid[0] == '\0' &&
	      cf.gs2_len == 24 && cf.nonce_len == 3 && cf.nonce_off == 33,
	      "client-first: p= header, user, nonce");
	CHECK(PARSE("n,a=o=2Cb=3Dx,n=o=2Cb=3Dx,r=a+b/c~,x=ext,Q=1") == 0 &&
	      cf.cbind_flag == 'n' && strcmp(cf.user, "o,b=x") == 0 &&
	      strcmp(cf.authzid, "o,b=x") == 0,
	      "client-first: =2C/=3D decoded, extensions ignored");
	CHECK(PARSE("y,,n=u,r=x") == 0 && cf.cbind_flag == 'y',
	      "client-first: y flag");
	CHECK(PARSE("n,,m=x,n=u,r=x") < 0 &&
	      strstr(why, "mandatory") != NULL,
	      "client-first: m= refused");
	CHECK(PARSE("n,,n=u=2,r=x") < 0 && PARSE("n,,n=u=2D,r=x") < 0 &&
	      PARSE("n,,n=u=,r=x") < 0, "client-first: bad '=' escapes");
	CHECK(PARSE("n,,n=,r=x") < 0 && PARSE("n,,n=u,r=") < 0 &&
	      PARSE("n,,n=u") < 0 && PARSE("n,,r=x,n=u") < 0 &&
	      PARSE("n,n=u,r=x") < 0 && PARSE("") < 0 &&
	      PARSE("x,,n=u,r=x") < 0 && PARSE("p=,,n=u,r=x") < 0 &&
	      PARSE("p=a_b,,n=u,r=x") < 0 && PARSE("n,,n=u,r=x,") < 0 &&
	      PARSE("n,,n=u,r=x,1=2") < 0 && PARSE("n,b=u,n=u,r=x") < 0,
	      "client-first: missing or misplaced fields refused");
	CHECK(PARSE("n,,n=u\0v,r=x") < 0 && PARSE("n,,n=u,r=a b") < 0 &&
	      PARSE("n,,n=u,r=\x80") < 0, "client-first: NUL, blank, "
	      "non-printable nonce refused");
	CHECK(scram_parse_client_first((const unsigned char *)"n,,n=u,r=x",
				       SCRAM_SERVER_MSG_MAX + 1, &cf,
				       &why) < 0, "client-first: too long");
#undef PARSE
}

static void test_endpoint(int w, struct tls_ctx *tctx)
{
	unsigned char s1[64], c1[32], srv_ep[64], cli_ep[64], other[64],
		      other384[64];
	int srv_len, cli_len, n_other, n_other384;
	struct ep_exch x;
	char salt_gsasl[128];
	uint32_t id;

	CHECK(tls_binding_v(tctx, TLS1_2_VERSION, s1, c1) == 32 &&
	      ep_server_len == 32 && ep_client_len == 32 &&
	      memcmp(ep_server, ep_client, 32) == 0,
	      "tls-server-end-point on TLS 1.2: server and client agree");
	CHECK(tls_binding(tctx, s1, c1) == 32 && ep_server_len == 32 &&
	      ep_client_len == 32 && memcmp(ep_server, ep_client, 32) == 0,
	      "tls-server-end-point on TLS 1.3: both ends agree (SHA-256)");
	srv_len = ep_server_len;
	cli_len = ep_client_len;
	memcpy(srv_ep, ep_server, sizeof(srv_ep));
	memcpy(cli_ep, ep_client, sizeof(cli_ep));
	n_other = other_cert_endpoint(EVP_sha256(), other);
	n_other384 = other_cert_endpoint(EVP_sha384(), other384);
	CHECK(n_other == 32 && memcmp(other, srv_ep, 32) != 0 &&
	      n_other384 == 48, "other certificates: bindings differ, "
	      "SHA-384 signature gives 48 octets");

	x = (struct ep_exch){ .mech = "SCRAM-SHA-256-PLUS", .user = "scram",
			      .password = "pencil", .cb_server = srv_ep,
			      .cb_server_len = srv_len, .cb_client = cli_ep,
			      .cb_client_len = cli_len, .exporter = s1 };
	CHECK(run_endpoint(w, &x) == AUTH_OK && srep.uid == 1001 &&
	      strcmp(srep.user, "scram") == 0,
	      "SCRAM-SHA-256-PLUS with tls-server-end-point (v= checked)");
	x.mech = "SCRAM-SHA-1-PLUS";
	CHECK(run_endpoint(w, &x) == AUTH_OK,
	      "SCRAM-SHA-1-PLUS with tls-server-end-point");
	x.exporter = NULL;
	CHECK(run_endpoint(w, &x) == AUTH_OK,
	      "tls-server-end-point without tls-exporter data");
	x.exporter = s1;
	x.mech = "SCRAM-SHA-256-PLUS";
	x.user = "plainy";
	CHECK(run_endpoint(w, &x) == AUTH_OK && srep.uid == 1000,
	      "-PLUS tls-server-end-point for a {PLAIN} user");
	x.user = "scramonly";
	CHECK(run_endpoint(w, &x) == AUTH_OK,
	      "-PLUS tls-server-end-point from the password field");
	x.mech = "SCRAM-SHA-1-PLUS";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "SCRAM-SHA-1-PLUS without a SHA-1 secret or {PLAIN}");
	x.mech = "SCRAM-SHA-256-PLUS";
	x.user = "o=2Cb=3Dx";
	CHECK(run_endpoint(w, &x) == AUTH_OK && srep.uid == 1006 &&
	      strcmp(srep.user, "o,b=x") == 0,
	      "user name with =2C and =3D decoded");
	x.authzid = "o=2Cb=3Dx";
	CHECK(run_endpoint(w, &x) == AUTH_OK, "authzid naming the user");
	x.authzid = "plainy";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "authzid of another user fails");
	x.authzid = NULL;
	x.user = "scram";
	x.password = "pencel";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "wrong password fails");
	x.password = "pencil";
	x.tamper = EP_PROOF;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "wrong proof fails");
	x.tamper = EP_PROOF_B64;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "bad base64 proof fails");
	x.tamper = EP_CBIND;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "c= mismatch fails");
	x.tamper = EP_NONCE;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "nonce mismatch fails");
	x.tamper = EP_NONE;
	x.cb_client = other;
	x.cb_client_len = n_other;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "binding data of another certificate fails");
	x.cb_client = other384;
	x.cb_client_len = n_other384;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "binding data of another length fails");
	x.cb_client = cli_ep;
	x.cb_client_len = cli_len;
	x.cb_server = NULL;
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "no tls-server-end-point data from the worker: fails");
	x.cb_server = srv_ep;
	x.cb_name = "tls-unique";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "tls-unique (not offered) still fails in gsasl");
	x.cb_name = NULL;
	x.user = "nosuchuser";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED, "unknown user fails");
	gsasl_salt(w, "SCRAM-SHA-256", "nosuchuser", salt_gsasl,
		   sizeof(salt_gsasl));
	CHECK(salt_gsasl[0] != '\0' && strcmp(salt_gsasl, x.salt_seen) == 0,
	      "unknown user: the same made-up salt as on the gsasl path");
	x.user = "plainy";
	CHECK(run_endpoint(w, &x) == AUTH_OK, "retry after failures works");
	gsasl_salt(w, "SCRAM-SHA-256", "plainy", salt_gsasl,
		   sizeof(salt_gsasl));
	CHECK(strcmp(salt_gsasl, x.salt_seen) == 0,
	      "{PLAIN} user: the same salt as on the gsasl path");
	x.mech = "SCRAM-SHA-256";
	CHECK(run_endpoint(w, &x) == AUTH_FAILED,
	      "p=tls-server-end-point with a non-PLUS mechanism fails");

	/* garbage client-first messages */
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256-PLUS",
		      "p=tls-server-end-point,,garbage", srv_ep, srv_len, s1);
	CHECK(get_reply(w) == AUTH_FAILED, "garbage client-first fails");
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256-PLUS",
		      "p=tls-server-end-point,,m=x,n=scram,r=abc", srv_ep,
		      srv_len, s1);
	CHECK(get_reply(w) == AUTH_FAILED, "client-first with m= fails");
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256-PLUS",
		      "p=tls-server-end-point,,n=sc=ram,r=abc", srv_ep,
		      srv_len, s1);
	CHECK(get_reply(w) == AUTH_FAILED, "bad '=' escape in n= fails");
	/* client-first in a continuation, then garbage client-final */
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256-PLUS", "", srv_ep, srv_len, s1);
	CHECK(get_reply(w) == AUTH_CONTINUE && srep.data_len == 0,
	      "-PLUS with an empty initial response asks for client-first");
	{
		static const char first[] =
			"p=tls-server-end-point,,n=scram,r=abc";

		send_sasl(w, AUTH_REQ_SASL_CONTINUE, id, NULL, first,
			  sizeof(first) - 1, true);
		CHECK(get_reply(w) == AUTH_CONTINUE &&
		      memcmp(srep.data, "r=abc", 5) == 0,
		      "client-first in the continuation: server-first");
		send_sasl(w, AUTH_REQ_SASL_CONTINUE, id, NULL, "c=\0x", 4,
			  true);
		CHECK(get_reply(w) == AUTH_FAILED,
		      "garbage client-final fails");
		send_sasl(w, AUTH_REQ_SASL_CONTINUE, id, NULL, "", 0, true);
		CHECK(get_reply(w) == AUTH_FAILED,
		      "the failed exchange is gone");
	}
	/* RFC 5802 6.: "y" to a non-PLUS SCRAM while only
	 * tls-server-end-point is there to bind to */
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256", "y,,n=scram,r=abc", srv_ep,
		      srv_len, NULL);
	CHECK(get_reply(w) == AUTH_FAILED,
	      "downgrade detected with tls-server-end-point only (flag y)");
	id = next_id++;
	send_start_cb(w, id, "SCRAM-SHA-256", "y,,n=scram,r=abc", NULL, 0,
		      NULL);
	CHECK(get_reply(w) == AUTH_CONTINUE, "flag y without any binding: "
	      "fine");
	send_sasl(w, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
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

/* PLAIN and LOGIN are parsed here now (sasl_simple.c): what gsasl used
 * to refuse is still refused, and a NUL can never cut a password short. */
static void test_simple_edges(int w)
{
	static const char no_nul[] = "plainy";
	static const char one_nul[] = "\0plainy";
	static const char no_user[] = "\0\0pencil";
	static const char nul_in_pw[] = "pencil\0junk";
	static const char empty_pw[] = "\0plainy\0";
	uint32_t id;

	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", no_nul,
		  sizeof(no_nul) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN without NULs fails");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", one_nul,
		  sizeof(one_nul) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN with one NUL fails");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", no_user,
		  sizeof(no_user) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN without authcid fails");
	send_sasl(w, AUTH_REQ_SASL_START, next_id++, "PLAIN", empty_pw,
		  sizeof(empty_pw) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED, "PLAIN with an empty password");
	id = next_id++;
	send_sasl(w, AUTH_REQ_SASL_START, id, "LOGIN", "plainy", 6, true);
	CHECK(get_reply(w) == AUTH_CONTINUE, "LOGIN asks for the password");
	send_sasl(w, AUTH_REQ_SASL_CONTINUE, id, NULL, nul_in_pw,
		  sizeof(nul_in_pw) - 1, true);
	CHECK(get_reply(w) == AUTH_FAILED,
	      "LOGIN password with a NUL is refused, not cut short");
	id = next_id++;
	send_sasl(w, AUTH_REQ_SASL_START, id, "LOGIN", NULL, 0, true);
	CHECK(get_reply(w) == AUTH_CONTINUE && srep.data_len == 9 &&
	      memcmp(srep.data, "User Name", 9) == 0,
	      "LOGIN with an empty initial response asks for the name");
	send_sasl(w, AUTH_REQ_SASL_ABORT, id, NULL, NULL, 0, false);
	/* no plaintext over an unprotected connection, whatever the
	 * worker says */
	memset(&sreq, 0, AUTH_SASL_REQUEST_HDR);
	sreq.type = AUTH_REQ_SASL_START;
	sreq.id = next_id++;
	snprintf(sreq.mech, sizeof(sreq.mech), "PLAIN");
	sreq.has_data = 1;
	sreq.secured = 0;
	memcpy(sreq.data, "\0plainy\0pencil", 14);
	sreq.data_len = 14;
	send(w, &sreq, AUTH_SASL_REQUEST_HDR + 14, MSG_NOSIGNAL);
	CHECK(get_reply(w) == AUTH_FAILED,
	      "PLAIN refused on an unprotected connection");
}

/* One SCRAM implementation: the gs2 header rules of scram_server_init
 * for -PLUS and plain SCRAM, with and without binding data. */
static void test_scram_binding_rules(void)
{
	struct scram_binding cb[2];
	struct scram_server s;
	const char *why = "";
#define FIRST(str) scram_server_client_first(&s, \
	(const unsigned char *)(str), sizeof(str) - 1, &why)

	memset(cb, 0, sizeof(cb));
	snprintf(cb[0].name, sizeof(cb[0].name), "tls-exporter");
	memset(cb[0].data, 7, 32);
	cb[0].len = 32;
	snprintf(cb[1].name, sizeof(cb[1].name), "tls-server-end-point");
	memset(cb[1].data, 9, 32);
	cb[1].len = 32;

	scram_server_init(&s, SCRAM_SHA256, true, cb, 2);
	CHECK(FIRST("p=tls-exporter,,n=u,r=x") == 0, "-PLUS: tls-exporter");
	scram_server_init(&s, SCRAM_SHA256, true, cb, 2);
	CHECK(FIRST("p=tls-server-end-point,,n=u,r=x") == 0,
	      "-PLUS: tls-server-end-point");
	scram_server_init(&s, SCRAM_SHA256, true, cb, 2);
	CHECK(FIRST("p=tls-unique,,n=u,r=x") < 0, "-PLUS: unknown type");
	scram_server_init(&s, SCRAM_SHA256, true, cb, 2);
	CHECK(FIRST("n,,n=u,r=x") < 0, "-PLUS: a client that does not bind");
	scram_server_init(&s, SCRAM_SHA256, true, cb + 1, 1);
	CHECK(FIRST("p=tls-exporter,,n=u,r=x") < 0,
	      "-PLUS: a type without data");
	scram_server_init(&s, SCRAM_SHA256, false, cb, 2);
	CHECK(FIRST("n,,n=u,r=x") == 0 && strcmp(s.cbind_b64, "biws") == 0,
	      "SCRAM: n, c= is biws");
	scram_server_init(&s, SCRAM_SHA256, false, cb, 2);
	CHECK(FIRST("y,,n=u,r=x") < 0 && strstr(why, "downgrade") != NULL,
	      "SCRAM: y with binding data is a downgrade");
	scram_server_init(&s, SCRAM_SHA256, false, NULL, 0);
	CHECK(FIRST("y,,n=u,r=x") == 0, "SCRAM: y without binding data");
	scram_server_init(&s, SCRAM_SHA256, false, cb, 2);
	CHECK(FIRST("p=tls-exporter,,n=u,r=x") < 0,
	      "SCRAM: p with a non-PLUS mechanism");
	scram_server_clear(&s);
#undef FIRST
}

/* The fake salt of a user without a SCRAM secret is the same after a
 * restart of the auth process: its key is kept in state_dir (a prober
 * comparing salts across restarts learns nothing). */
static void test_fake_salt_restart(struct config *cfg)
{
	char salt1[128], salt2[128], salt3[128], path[CONFIG_STR_MAX + 32];
	struct stat st;
	int w, status;

	snprintf(cfg->auth.state_dir, sizeof(cfg->auth.state_dir), "%s/state", tmpdir);
	mkdir(cfg->auth.state_dir, 0700);
	start(cfg);
	w = attach(5);
	gsasl_salt(w, "SCRAM-SHA-256", "nosuchuser", salt1, sizeof(salt1));
	gsasl_salt(w, "SCRAM-SHA-256", "plainy", salt3, sizeof(salt3));
	close(w);
	close(control_fd);
	waitpid(child, &status, 0);
	snprintf(path, sizeof(path), "%s/scram-salt-key", cfg->auth.state_dir);
	CHECK(stat(path, &st) == 0 && st.st_size == 32 &&
	      (st.st_mode & 0777) == 0600, "salt key made, 32 octets, 0600");
	start(cfg);
	w = attach(5);
	gsasl_salt(w, "SCRAM-SHA-256", "nosuchuser", salt2, sizeof(salt2));
	CHECK(salt1[0] != '\0' && strcmp(salt1, salt2) == 0,
	      "an unknown user's salt survives a restart");
	CHECK(strcmp(salt1, salt3) != 0, "and differs between users");
	close(w);
	close(control_fd);
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "auth process with state exits");
	cfg->auth.state_dir[0] = '\0';
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
	test_scram_server_parse();
	test_scram_binding_rules();

	config_defaults(&cfg);
	/* the default is PLAIN LOGIN; every mechanism is tested */
	CHECK(config_override(&cfg, "sasl_mechanisms=SCRAM-SHA-256-PLUS "
			      "SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 "
			      "CRAM-MD5 EXTERNAL PLAIN LOGIN", err,
			      sizeof(err)) == 0, "every mechanism enabled");
	snprintf(cfg.auth.passwd_file, sizeof(cfg.auth.passwd_file), "%s", path_passwd);
	if (snprintf(cfg.auth.users, sizeof(cfg.auth.users), "passwd-file:%s",
		     cfg.auth.passwd_file) >= (int)sizeof(cfg.auth.users))
		exit(2);
	cfg.auth.state_dir[0] = '\0';
	cfg.auth.max_sessions_per_user = 0;
	cfg.tls.verify_client = TLS_VERIFY_OPTIONAL;
	cfg.auth.client_certs = true;  /* what config_finish derives */
	snprintf(cfg.auth.mail_pattern, sizeof(cfg.auth.mail_pattern), "/var/mail/%%n");
	CHECK(make_cert() == 0, "test certificate made");

	start(&cfg);
	w = attach(3);
	w2 = attach(4);
	test_simple(w);
	test_simple_edges(w);
	test_challenge_response(w);

	/* the worker's TLS context: tls_cert/tls_key, TLS 1.3 */
	snprintf(cfg.tls.cert, sizeof(cfg.tls.cert), "%s", path_cert);
	snprintf(cfg.tls.key, sizeof(cfg.tls.key), "%s", path_key);
	cfg.tls.verify_client = TLS_VERIFY_NO;
	CHECK(tls_ctx_create(&cfg.tls, &tctx, err, sizeof(err)) == 0 &&
	      tctx != NULL, "TLS context");
	if (tctx != NULL) {
		test_plus(w, tctx);
		test_endpoint(w, tctx);
	}
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
	test_fake_salt_restart(&cfg);
	gsasl_done(gctx);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cp %s /tmp/sasl-test.log; rm -rf %s", path_log, tmpdir);
		if (system(cmd) != 0)
			return 2;
	}
	return unit_done();
}
