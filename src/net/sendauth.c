/* sendauth.c: the framing of the Kerberos 5 sendauth exchange
 * (sendauth.h). */
#include "net/sendauth.h"

#include <string.h>

static uint32_t sendauth_len_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The length field at buf: MORE until it is there, BAD when it is above
 * max (nothing more is read of such a message), else DONE with
 * *len_r. */
static enum sendauth_result sendauth_frame(const unsigned char *buf,
					   size_t len, size_t max,
					   size_t *len_r)
{
	uint32_t n;

	if (len < SENDAUTH_LEN_OCTETS)
		return SENDAUTH_MORE;
	n = sendauth_len_at(buf);
	if (n > max)
		return SENDAUTH_BAD;
	*len_r = n;
	return len - SENDAUTH_LEN_OCTETS < n ? SENDAUTH_MORE : SENDAUTH_DONE;
}

/* One version string: its text and NUL, exactly (krb5_recvauth compares
 * them as C strings; both MIT and Heimdal send the NUL). */
static enum sendauth_result sendauth_version(const unsigned char *buf,
					     size_t len, const char *want,
					     size_t *used_r)
{
	size_t n;
	enum sendauth_result r = sendauth_frame(buf, len,
						 SENDAUTH_VERSION_MAX, &n);

	if (r != SENDAUTH_DONE)
		return r;
	if (n != strlen(want) + 1 ||
	    memcmp(buf + SENDAUTH_LEN_OCTETS, want, n) != 0)
		return SENDAUTH_BAD;
	*used_r = SENDAUTH_LEN_OCTETS + n;
	return SENDAUTH_DONE;
}

enum sendauth_result sendauth_parse_versions(const unsigned char *buf,
					     size_t len,
					     const char *appl_version,
					     size_t *used_r,
					     enum sendauth_reply *reply_r,
					     const char **error_r)
{
	size_t first, second;
	enum sendauth_result r;

	r = sendauth_version(buf, len, SENDAUTH_VERSION, &first);
	if (r == SENDAUTH_BAD) {
		*reply_r = SENDAUTH_REPLY_BAD_VERSION;
		*error_r = "not a Kerberos 5 sendauth exchange";
	}
	if (r != SENDAUTH_DONE)
		return r;
	r = sendauth_version(buf + first, len - first, appl_version, &second);
	if (r == SENDAUTH_BAD) {
		*reply_r = SENDAUTH_REPLY_BAD_APPL;
		*error_r = "another application version (Kerberos IV's "
			   "KPOP is not supported)";
	}
	if (r != SENDAUTH_DONE)
		return r;
	*reply_r = SENDAUTH_REPLY_OK;
	*used_r = first + second;
	return SENDAUTH_DONE;
}

enum sendauth_result sendauth_parse_message(const unsigned char *buf,
					    size_t len, size_t max,
					    const unsigned char **msg_r,
					    size_t *msg_len_r, size_t *used_r,
					    const char **error_r)
{
	size_t n = 0;
	enum sendauth_result r = sendauth_frame(buf, len, max, &n);

	if (r == SENDAUTH_BAD) {
		*error_r = "sendauth message too long";
		return r;
	}
	if (len >= SENDAUTH_LEN_OCTETS && sendauth_len_at(buf) == 0) {
		*error_r = "empty sendauth message";
		return SENDAUTH_BAD;
	}
	if (r != SENDAUTH_DONE)
		return r;
	*msg_r = buf + SENDAUTH_LEN_OCTETS;
	*msg_len_r = n;
	*used_r = SENDAUTH_LEN_OCTETS + n;
	return SENDAUTH_DONE;
}

long sendauth_encode_message(const void *msg, size_t len, unsigned char *out,
			     size_t size)
{
	if (len > UINT32_MAX || len > (size_t)0x7fffffff ||
	    size < SENDAUTH_LEN_OCTETS || size - SENDAUTH_LEN_OCTETS < len)
		return -1;
	out[0] = (unsigned char)(len >> 24);
	out[1] = (unsigned char)(len >> 16);
	out[2] = (unsigned char)(len >> 8);
	out[3] = (unsigned char)len;
	if (len > 0)
		memcpy(out + SENDAUTH_LEN_OCTETS, msg, len);
	return (long)(SENDAUTH_LEN_OCTETS + len);
}
