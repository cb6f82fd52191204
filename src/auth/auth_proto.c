/* auth_proto.c: what each end of the auth protocol accepts (see
 * auth_proto.h), in one place the auth process, the worker and the fuzz
 * target (tests/fuzz/fuzz-authproto.c) all call. */
#include "auth/auth_proto.h"

#include <string.h>

/* Every string field ends inside its field, whatever the peer sent. */
#define TERMINATE(field) ((field)[sizeof(field) - 1] = '\0')

enum auth_msg auth_proto_check_request(void *msg, size_t n)
{
	struct auth_sasl_request *sreq = msg;
	struct auth_request *req = msg;
	uint32_t type;

	if (n < sizeof(type))
		return AUTH_MSG_BAD;
	memcpy(&type, msg, sizeof(type));
	if (type >= AUTH_REQ_SASL_START && type <= AUTH_REQ_SASL_ABORT) {
		/* the header and exactly data_len octets of data */
		if (n < AUTH_SASL_REQUEST_HDR || n > sizeof(*sreq) ||
		    sreq->data_len > AUTH_SASL_DATA_MAX ||
		    n != AUTH_SASL_REQUEST_HDR + sreq->data_len)
			return AUTH_MSG_BAD;
		TERMINATE(sreq->mech);
		TERMINATE(sreq->client_addr);
		TERMINATE(sreq->peer_cn);
		return AUTH_MSG_SASL;
	}
	if (n != sizeof(*req))
		return AUTH_MSG_BAD;
	TERMINATE(req->user);
	TERMINATE(req->secret);
	TERMINATE(req->timestamp);
	TERMINATE(req->client_addr);
	return AUTH_MSG_REQUEST;
}

bool auth_proto_check_reply(struct auth_reply *reply, size_t n)
{
	if (n < AUTH_REPLY_HDR || n > sizeof(*reply) ||
	    reply->data_len > AUTH_SASL_OUT_MAX ||
	    n != AUTH_REPLY_HDR + reply->data_len)
		return false;
	TERMINATE(reply->user);
	TERMINATE(reply->mail_path);
	TERMINATE(reply->proxy_host);
	TERMINATE(reply->proxy_ticket);
	return true;
}
