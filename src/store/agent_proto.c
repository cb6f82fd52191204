/* agent_proto.c: what each end of the mail agent protocol accepts (see
 * agent_proto.h), in one place for the agent, the worker's remote
 * maildrop, the unit test and the fuzz target. */
#include "store/agent_proto.h"

#include <string.h>

#define FLAGS_HDR offsetof(struct agent_flags, flags)
#define MSGS_HDR offsetof(struct agent_msgs, e)

void agent_proto_hdr(struct agent_hdr *hdr, uint32_t type, size_t size)
{
	hdr->type = type;
	hdr->len = (uint32_t)(size - sizeof(*hdr));
}

void agent_proto_flags_len(struct agent_flags *f, uint32_t n)
{
	f->n = n;
	agent_proto_hdr(&f->hdr, AGENT_REQ_FLAGS, FLAGS_HDR + n);
}

void agent_proto_msgs_len(struct agent_msgs *m, uint32_t n)
{
	m->n = n;
	agent_proto_hdr(&m->hdr, AGENT_REP_MSGS,
			MSGS_HDR + (size_t)n * sizeof(m->e[0]));
}

/* The header, and a length field that says what arrived. */
static bool hdr_ok(const void *msg, size_t n, struct agent_hdr *hdr_r)
{
	if (n < sizeof(*hdr_r))
		return false;
	memcpy(hdr_r, msg, sizeof(*hdr_r));
	return hdr_r->len == n - sizeof(*hdr_r);
}

uint32_t agent_proto_check_request(const void *msg, size_t n)
{
	struct agent_hdr hdr;
	uint32_t count;

	if (!hdr_ok(msg, n, &hdr))
		return 0;
	switch (hdr.type) {
	case AGENT_REQ_OPEN:
		return n == sizeof(struct agent_open) ? hdr.type : 0;
	case AGENT_REQ_READER:
		return n == sizeof(struct agent_index) ? hdr.type : 0;
	case AGENT_REQ_COMMIT:
		return n == sizeof(hdr) ? hdr.type : 0;
	case AGENT_REQ_FLAGS:
		if (n < FLAGS_HDR || n > sizeof(struct agent_flags))
			return 0;
		memcpy(&count, (const char *)msg +
		       offsetof(struct agent_flags, n), sizeof(count));
		return count == n - FLAGS_HDR ? hdr.type : 0;
	default:
		return 0;
	}
}

int agent_proto_apply_flags(const struct agent_flags *f,
			    struct maildrop_msg *msgs, unsigned count)
{
	if (f->first > count || f->n > count - f->first)
		return -1;
	for (uint32_t i = 0; i < f->n; i++) {
		struct maildrop_msg *m = &msgs[f->first + i];

		m->deleted = (f->flags[i] & AGENT_FLAG_DELETED) != 0;
		m->retrieved = (f->flags[i] & AGENT_FLAG_RETRIEVED) != 0;
	}
	return 0;
}

/* RFC 1939 7.: 1-70 characters in the range 0x21 to 0x7E. */
static bool uidl_ok(char *uidl)
{
	size_t len;

	uidl[MAILDROP_UIDL_MAX] = '\0';
	len = strlen(uidl);
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)uidl[i] < 0x21 ||
		    (unsigned char)uidl[i] > 0x7e)
			return false;
	}
	return true;
}

bool agent_proto_check_reply(void *msg, size_t n, uint32_t want,
			     uint32_t expect_first, uint32_t count)
{
	struct agent_hdr hdr;

	if (!hdr_ok(msg, n, &hdr) || hdr.type != want)
		return false;
	if (want == AGENT_REP_MSGS) {
		struct agent_msgs *m = msg;

		if (n < MSGS_HDR || n > sizeof(*m) ||
		    (n - MSGS_HDR) % sizeof(m->e[0]) != 0 ||
		    m->n != (n - MSGS_HDR) / sizeof(m->e[0]) || m->n == 0 ||
		    m->first != expect_first || m->first > count ||
		    m->n > count - m->first)
			return false;
		for (uint32_t i = 0; i < m->n; i++) {
			if (!uidl_ok(m->e[i].uidl) ||
			    m->e[i].utf8 > MAILDROP_UTF8_YES)
				return false;
		}
		return true;
	}
	if (n != sizeof(struct agent_result))
		return false;
	{
		struct agent_result *r = msg;

		r->error[sizeof(r->error) - 1] = '\0';
		return r->ret == MAILDROP_OK || r->ret == MAILDROP_IN_USE ||
		       r->ret == MAILDROP_TEMP || r->ret == MAILDROP_PERM;
	}
}
