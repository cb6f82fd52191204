/* auth_park.c: requests waiting for a user database lookup (see
 * auth_server.h). A request whose lookup answered USERDB_PENDING has
 * done nothing yet (every path up to its first lookup is free of side
 * effects: no reply, no log line, no session, no hash job); it is kept
 * here as it came and handled again from the start, through the same
 * dispatch, when the drivers say a lookup finished: the answer is then
 * held and the request runs to its end at once. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_server.h"
#include "util/log.h"

struct auth_parked {
	struct auth_parked *next;
	enum auth_park_kind kind;
	uint32_t slot, slot_gen;
	size_t len;
	unsigned char data[];          /* the message, or a verify request */
};

/* What a parked password check keeps (struct auth_verify_req points). */
struct auth_park_verify {
	uint64_t id;
	bool refuse;
	bool via_proxy;
	char user[AUTH_USER_MAX];
	char password[HASHPOOL_PASSWORD_MAX];
	char mech[AUTH_MECH_MAX];
	char client_addr[AUTH_ADDR_MAX];
};

static void auth_park_free(struct auth_parked *p)
{
	explicit_bzero(p->data, p->len);
	free(p);
}

/* Appends (arrival order is kept for the replay). */
static bool auth_park_add(struct auth_server *srv, enum auth_park_kind kind,
			  uint32_t slot, const void *data, size_t len)
{
	struct auth_parked *p, **tail;

	if (srv->n_parked >= AUTH_PARKED_MAX)
		return false;
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return false;
	p->next = NULL;
	p->kind = kind;
	p->slot = slot;
	p->slot_gen = srv->slot_gen[slot];
	p->len = len;
	memcpy(p->data, data, len);
	for (tail = &srv->parked; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = p;
	srv->n_parked++;
	return true;
}

bool auth_park_message(struct auth_server *srv, uint32_t slot,
		       const void *msg, size_t len)
{
	return auth_park_add(srv, AUTH_PARK_MESSAGE, slot, msg, len);
}

bool auth_park_verify(struct auth_server *srv,
		      const struct auth_verify_req *vr)
{
	struct auth_park_verify v;
	bool ok;

	memset(&v, 0, sizeof(v));
	v.id = vr->id;
	v.refuse = vr->refuse;
	v.via_proxy = vr->via_proxy;
	if (strlen(vr->user) >= sizeof(v.user) ||
	    strlen(vr->password) >= sizeof(v.password) ||
	    strlen(vr->mech) >= sizeof(v.mech) ||
	    strlen(vr->client_addr) >= sizeof(v.client_addr))
		return false;
	strcpy(v.user, vr->user);
	strcpy(v.password, vr->password);
	strcpy(v.mech, vr->mech);
	strcpy(v.client_addr, vr->client_addr);
	ok = auth_park_add(srv, AUTH_PARK_VERIFY, vr->slot, &v, sizeof(v));
	explicit_bzero(&v, sizeof(v));
	return ok;
}

static void auth_park_run(struct auth_server *srv, struct auth_parked *p)
{
	if (p->kind == AUTH_PARK_MESSAGE) {
		auth_slot_dispatch(srv, p->slot, p->data, p->len);
	} else {
		const struct auth_park_verify *v =
			(const struct auth_park_verify *)p->data;
		struct auth_verify_req vr = {
			.slot = p->slot, .id = v->id, .user = v->user,
			.password = v->password, .mech = v->mech,
			.client_addr = v->client_addr, .refuse = v->refuse,
			.via_proxy = v->via_proxy,
		};

		auth_verify_password(srv, &vr);
	}
}

void auth_park_replay(struct auth_server *srv)
{
	struct auth_parked *list = srv->parked, *p;

	srv->parked = NULL;
	srv->n_parked = 0;
	srv->park_blocked = false;
	while ((p = list) != NULL) {
		list = p->next;
		p->next = NULL;
		/* the worker went away: nothing to answer */
		if (p->slot_gen != srv->slot_gen[p->slot] ||
		    srv->slot_fd[p->slot] < 0) {
			auth_park_free(p);
			continue;
		}
		/* its slot's earlier reply still waits for the socket: the
		 * replay could not send its own; kept for the next turn */
		if (srv->pending[p->slot]) {
			p->next = srv->parked;
			srv->parked = p;
			srv->n_parked++;
			srv->park_blocked = true;
			continue;
		}
		/* a replay that meets PENDING again parks itself anew */
		auth_park_run(srv, p);
		auth_park_free(p);
	}
}

void auth_park_deinit(struct auth_server *srv)
{
	while (srv->parked != NULL) {
		struct auth_parked *p = srv->parked;

		srv->parked = p->next;
		auth_park_free(p);
	}
	srv->n_parked = 0;
}
