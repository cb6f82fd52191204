/* tls_remote.c: a key whose private operations the key process does
 * (see tls_remote.h).
 *
 * This is the one file that uses OpenSSL 3.0's deprecated RSA_METHOD and
 * EC_KEY_METHOD, on purpose: an RSA or EC_KEY with its own method makes
 * the EVP_PKEY "foreign", so libssl's signing takes OpenSSL's legacy
 * path and ends in our callbacks, with the digest (ECDSA, RSA PKCS #1)
 * or the EMSA-PSS block (RSA-PSS) ready to send. A provider (keymgmt and
 * signature tables) is the future-proof way; it would replace this file
 * alone. OPENSSL_SUPPRESS_DEPRECATED is set here and nowhere else, so
 * -Werror still catches any other use. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "net/tls_remote.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "net/fdpass.h"
#include "net/tls_keyop.h"
#include "util/log.h"

struct tls_remote {
	int connect_fd;        /* the generation's (not ours to close) */
	int chan_fd;           /* this process's channel, or -1 */
	pid_t chan_pid;        /* who opened chan_fd: a forked copy reopens */
	unsigned timeout_ms;
	uint32_t seq;
	uint8_t id[KEYPROTO_ID_LEN];
	RSA_METHOD *rsa_meth;
	EC_KEY_METHOD *ec_meth;
};

/* The ex_data slot of RSA and EC_KEY objects that points at their
 * tls_remote. Module-global: made once, in the master, before any fork
 * and on its only thread. */
static int rsa_index = -1, ec_index = -1;

static void channel_close(struct tls_remote *r)
{
	if (r->chan_fd >= 0 && r->chan_pid == getpid())
		close(r->chan_fd);
	r->chan_fd = -1;
}

/* A new channel: one end passed to the key process over connect_fd. */
static int channel_open(struct tls_remote *r)
{
	static const char hello = 'k';
	int pair[2];

	if (r->chan_fd >= 0 && r->chan_pid == getpid())
		return 0;
	r->chan_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if (fdpass_send(r->connect_fd, &hello, 1, pair[1]) < 0) {
		log_error("key process: cannot reach it: %s", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	close(pair[1]);
	r->chan_fd = pair[0];
	r->chan_pid = getpid();
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the reply to req->seq. 0; -1 with the reason logged; or
 * CHANNEL_GONE when the key process closed it (it exited). */
#define CHANNEL_GONE (-2)

static int channel_wait(struct tls_remote *r, const struct keyproto_req *req,
			struct keyproto_resp *resp)
{
	long long deadline = now_ms() + r->timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = r->chan_fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int ready;

		if (left <= 0) {
			log_error("key process: no answer in %u ms",
				  r->timeout_ms);
			return -1;
		}
		ready = poll(&pfd, 1, (int)left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			continue; /* timeout: the check above says so */
		n = recv(r->chan_fd, resp, sizeof(*resp), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return CHANNEL_GONE;
		if (n < 0) {
			log_error("key process: %s", strerror(errno));
			return -1;
		}
		if ((size_t)n != sizeof(*resp) || resp->len > sizeof(resp->data)) {
			log_error("key process: malformed answer");
			return -1;
		}
		if (resp->seq == req->seq)
			return 0;
		/* an answer to an earlier request that timed out */
	}
}

/* One request on the channel (opened if need be). 0, -1 (logged), or
 * CHANNEL_GONE: the key process that had it exited. */
static int channel_call(struct tls_remote *r, struct keyproto_req *req,
			struct keyproto_resp *resp)
{
	ssize_t n;

	if (channel_open(r) < 0)
		return -1;
	req->seq = ++r->seq;
	memcpy(req->key_id, r->id, KEYPROTO_ID_LEN);
	n = send(r->chan_fd, req, sizeof(*req), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		return CHANNEL_GONE;
	if (n != (ssize_t)sizeof(*req)) {
		log_error("key process: sending: %s",
			  n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return channel_wait(r, req, resp);
}

/* One operation: req's op, md_nid, len and data set; the reply's
 * signature in resp. A channel whose key process exited (the master
 * restarts it) is replaced and the request sent once more, so a
 * handshake only fails when the new one does not answer within the
 * timeout either. 0, or -1 (logged; the channel is closed so the next
 * operation starts afresh). */
static int remote_call(struct tls_remote *r, struct keyproto_req *req,
		       struct keyproto_resp *resp)
{
	int ret = channel_call(r, req, resp);

	if (ret == CHANNEL_GONE) {
		log_warn("key process: channel closed (it exited); "
			 "reconnecting");
		channel_close(r);
		ret = channel_call(r, req, resp);
		if (ret == CHANNEL_GONE)
			log_error("key process: channel closed again");
	}
	if (ret < 0)
		goto out_close;
	if (resp->status != KEYPROTO_OK) {
		log_error("key process refused operation %u (status %u)",
			  req->op, resp->status);
		return -1;
	}
	return 0;

out_close:
	channel_close(r);
	return -1;
}

/* The request of an operation on len bytes of data; -1 if too long. */
static int remote_sign(struct tls_remote *r, uint32_t op, uint32_t md_nid,
		       const unsigned char *data, size_t len,
		       struct keyproto_resp *resp)
{
	struct keyproto_req req = { .op = op, .md_nid = md_nid };
	int ret;

	if (r == NULL || len > sizeof(req.data))
		return -1;
	req.len = (uint32_t)len;
	memcpy(req.data, data, len);
	ret = remote_call(r, &req, resp);
	OPENSSL_cleanse(&req, sizeof(req));
	return ret;
}

/* --- RSA --- */

/* libssl's RSA-PSS: OpenSSL made the EMSA-PSS block; the key process
 * does the raw private operation on it. Anything else is refused. */
static int rsa_priv_enc(int flen, const unsigned char *from,
			unsigned char *to, RSA *rsa, int padding)
{
	struct tls_remote *r = RSA_get_ex_data(rsa, rsa_index);
	struct keyproto_resp resp;

	if (padding != RSA_NO_PADDING || flen != RSA_size(rsa) ||
	    remote_sign(r, KEYPROTO_RSA_PSS_BLOCK, 0, from, (size_t)flen,
			&resp) < 0 ||
	    resp.len != (uint32_t)flen)
		return -1;
	memcpy(to, resp.data, resp.len);
	return (int)resp.len;
}

/* RSA key exchange (decryption) is off with a remote key: tls.c drops
 * kRSA from the cipher list. */
static int rsa_priv_dec(int flen, const unsigned char *from,
			unsigned char *to, RSA *rsa, int padding)
{
	return -1;
}

/* RSA_sign's hook: PKCS #1 v1.5 of a digest (TLS 1.2). */
static int rsa_sign(int type, const unsigned char *m, unsigned int m_length,
		    unsigned char *sigret, unsigned int *siglen,
		    const RSA *rsa)
{
	struct tls_remote *r = RSA_get_ex_data(rsa, rsa_index);
	struct keyproto_resp resp;

	if (type <= 0 ||
	    remote_sign(r, KEYPROTO_RSA_PKCS1, (uint32_t)type, m, m_length,
			&resp) < 0 ||
	    resp.len > (uint32_t)RSA_size(rsa))
		return 0;
	memcpy(sigret, resp.data, resp.len);
	*siglen = resp.len;
	return 1;
}

/* --- ECDSA --- */

static int ec_sign(int type, const unsigned char *dgst, int dlen,
		   unsigned char *sig, unsigned int *siglen,
		   const BIGNUM *kinv, const BIGNUM *rp, EC_KEY *eckey)
{
	struct tls_remote *r = EC_KEY_get_ex_data(eckey, ec_index);
	struct keyproto_resp resp;

	if (dlen <= 0 ||
	    remote_sign(r, KEYPROTO_ECDSA, 0, dgst, (size_t)dlen, &resp) < 0 ||
	    resp.len > (uint32_t)ECDSA_size(eckey))
		return 0;
	memcpy(sig, resp.data, resp.len);
	*siglen = resp.len;
	return 1;
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen,
			      const BIGNUM *kinv, const BIGNUM *rp,
			      EC_KEY *eckey)
{
	struct tls_remote *r = EC_KEY_get_ex_data(eckey, ec_index);
	struct keyproto_resp resp;
	const unsigned char *p = resp.data;

	if (dlen <= 0 ||
	    remote_sign(r, KEYPROTO_ECDSA, 0, dgst, (size_t)dlen, &resp) < 0)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)resp.len);
}

/* --- the key object --- */

static int make_methods(struct tls_remote *r)
{
	if (rsa_index < 0)
		rsa_index = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ec_index < 0)
		ec_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (rsa_index < 0 || ec_index < 0)
		return -1;
	r->rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	r->ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (r->rsa_meth == NULL || r->ec_meth == NULL ||
	    RSA_meth_set1_name(r->rsa_meth, "satchel key process") != 1 ||
	    RSA_meth_set_priv_enc(r->rsa_meth, rsa_priv_enc) != 1 ||
	    RSA_meth_set_priv_dec(r->rsa_meth, rsa_priv_dec) != 1 ||
	    RSA_meth_set_sign(r->rsa_meth, rsa_sign) != 1 ||
	    RSA_meth_set_flags(r->rsa_meth, RSA_meth_get_flags(r->rsa_meth) |
			       RSA_FLAG_EXT_PKEY) != 1)
		return -1;
	EC_KEY_METHOD_set_sign(r->ec_meth, ec_sign, NULL, ec_sign_sig);
	return 0;
}

/* The public key of pub in a foreign (method-carrying) object. */
static EVP_PKEY *remote_pkey(struct tls_remote *r, EVP_PKEY *pub)
{
	EVP_PKEY *pkey = EVP_PKEY_new();

	if (pkey == NULL)
		return NULL;
	if (EVP_PKEY_is_a(pub, "RSA")) {
		RSA *rsa = EVP_PKEY_get1_RSA(pub);

		if (rsa != NULL && RSA_set_method(rsa, r->rsa_meth) == 1 &&
		    RSA_set_ex_data(rsa, rsa_index, r) == 1 &&
		    EVP_PKEY_assign_RSA(pkey, rsa) == 1)
			return pkey;
		RSA_free(rsa);
	} else if (EVP_PKEY_is_a(pub, "EC")) {
		EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pub);

		if (ec != NULL && EC_KEY_set_method(ec, r->ec_meth) == 1 &&
		    EC_KEY_set_ex_data(ec, ec_index, r) == 1 &&
		    EVP_PKEY_assign_EC_KEY(pkey, ec) == 1)
			return pkey;
		EC_KEY_free(ec);
	}
	EVP_PKEY_free(pkey);
	return NULL;
}

int tls_remote_key_create(const struct tls_remote_settings *set, void *x509,
			  void **pkey_r, struct tls_remote **remote_r,
			  uint8_t id_r[KEYPROTO_ID_LEN], char *err,
			  size_t errsize)
{
	EVP_PKEY *pub = X509_get0_pubkey(x509);
	struct tls_remote *r;

	*pkey_r = NULL;
	*remote_r = NULL;
	if (pub == NULL || (!EVP_PKEY_is_a(pub, "RSA") &&
			    !EVP_PKEY_is_a(pub, "EC"))) {
		snprintf(err, errsize, "tls_cert: the key process holds RSA "
			 "and EC keys only");
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	r->connect_fd = set->connect_fd;
	r->chan_fd = -1;
	r->timeout_ms = set->timeout_ms;
	if (tls_keyop_pkey_id(pub, r->id) < 0 || make_methods(r) < 0) {
		snprintf(err, errsize, "tls_cert: cannot set up its key");
		goto out_free;
	}
	*pkey_r = remote_pkey(r, pub);
	if (*pkey_r == NULL) {
		snprintf(err, errsize, "tls_cert: cannot set up its key");
		goto out_free;
	}
	memcpy(id_r, r->id, KEYPROTO_ID_LEN);
	*remote_r = r;
	return 0;

out_free:
	tls_remote_destroy(&r);
	return -1;
}

void tls_remote_destroy(struct tls_remote **remotep)
{
	struct tls_remote *r = *remotep;

	if (r == NULL)
		return;
	channel_close(r);
	RSA_meth_free(r->rsa_meth);
	EC_KEY_METHOD_free(r->ec_meth);
	free(r);
	*remotep = NULL;
}
