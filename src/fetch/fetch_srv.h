/* fetch_srv.h: the DNS SRV records (RFC 2782) of one service name, for
 * `satchel fetch --configure` (fetch_configure.h). The query goes to
 * the resolvers of /etc/resolv.conf through libresolv (res_nquery);
 * the answer is parsed with its ns_* functions. Everything in an
 * answer is untrusted: without DNSSEC anyone on the path can forge it,
 * so what is found is shown to the user, never used behind their
 * back. */
#ifndef SATCHEL_FETCH_SRV_H
#define SATCHEL_FETCH_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records kept per name; more are counted in dropped. A domain has a
 * handful; an answer that needs TCP to carry more is not a mail
 * domain's. */
#define FETCH_SRV_MAX 32
/* A name in presentation form: 253 octets, each possibly escaped as
 * \DDD by ns_name_ntop, plus the NUL. */
#define FETCH_SRV_NAME_MAX 1025

struct fetch_srv {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	/* presentation form (ns_name_ntop: odd octets as \DDD), without
	 * the final dot; "." is the root: the service is not offered
	 * (RFC 2782). Untrusted: check it with fetch_srv_host_is_valid
	 * before it goes anywhere but an escaped message. */
	char target[FETCH_SRV_NAME_MAX];
};

struct fetch_srv_list {
	struct fetch_srv srv[FETCH_SRV_MAX];
	size_t count;
	size_t dropped;          /* SRV records beyond FETCH_SRV_MAX */
};

enum fetch_srv_result {
	FETCH_SRV_FOUND,         /* at least one SRV record */
	FETCH_SRV_NONE,          /* NXDOMAIN, or no SRV record at the name */
	FETCH_SRV_TEMPFAIL,      /* SERVFAIL, REFUSED, a timeout, no
				    resolver, a malformed answer */
};

/* Asks for the SRV records of qname (a fully qualified name such as
 * "_pop3s._tcp.example.com"; no search list is applied) and returns
 * them sorted (fetch_srv_sort). On FETCH_SRV_TEMPFAIL *error_r says
 * why (static text). */
enum fetch_srv_result fetch_srv_lookup(const char *qname,
				       struct fetch_srv_list *list,
				       const char **error_r);

/* Parses the DNS response msg[0..len) to a query for qname's SRV
 * records into *list (unsorted): the SRV records of the answer section
 * whose owner is qname or the end of a CNAME chain from it; others
 * are ignored. 0, or -1 with *error_r when the message or an SRV
 * record is malformed. msg is untrusted. */
int fetch_srv_parse(const unsigned char *msg, size_t len, const char *qname,
		    struct fetch_srv_list *list, const char **error_r);

/* Orders list for a fixed configuration: priority ascending (RFC 2782:
 * lowest first), then weight descending (the one a client would pick
 * most often), then target and port so that the order never depends
 * on the order of the answer. */
void fetch_srv_sort(struct fetch_srv_list *list);

/* Whether name is a host name a POP URL may hold: 1 to 253 octets of
 * dot-separated labels of 1 to 63 letters, digits and '-', no label
 * starting or ending with '-' (RFC 1123 2.1), no final dot. */
bool fetch_srv_host_is_valid(const char *name);

#endif
