/* fetch_srv.c: SRV lookups through libresolv (fetch_srv.h). */
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch_srv.h"

/* A CNAME chain longer than this is a loop or a joke; resolvers give
 * up near here too. */
#define FETCH_SRV_CNAME_MAX 8
/* priority, weight, port (RFC 2782), then at least the root's 0. */
#define FETCH_SRV_RDATA_MIN 7

/* How res_nquery's h_errno reads for a configuration: only "the name
 * is not there" and "it has no SRV record" mean no service; every
 * other failure says nothing about the domain. */
static const struct {
	int herr;
	enum fetch_srv_result result;
	const char *why;
} fetch_srv_herrs[] = {
	{ HOST_NOT_FOUND, FETCH_SRV_NONE, "no such name" },
	{ NO_DATA, FETCH_SRV_NONE, "no SRV record" },
	{ TRY_AGAIN, FETCH_SRV_TEMPFAIL,
	  "no answer from the DNS (SERVFAIL, a timeout or no resolver)" },
	{ NO_RECOVERY, FETCH_SRV_TEMPFAIL,
	  "the DNS refused the query (REFUSED, FORMERR or NOTIMP)" },
};

/* If rr is a CNAME (RFC 1034 3.6.2) whose owner is name, name becomes
 * its target: 1; not such a CNAME: 0; a malformed one: -1. */
static int fetch_srv_follow(const ns_msg *h, const ns_rr *rr, char *name,
			    size_t size)
{
	char target[FETCH_SRV_NAME_MAX];

	if (ns_rr_type(*rr) != ns_t_cname || ns_rr_class(*rr) != ns_c_in ||
	    strcasecmp(ns_rr_name(*rr), name) != 0)
		return 0;
	if (ns_name_uncompress(ns_msg_base(*h), ns_msg_end(*h),
			       ns_rr_rdata(*rr), target, sizeof(target)) < 0 ||
	    strlen(target) >= size)
		return -1;
	memcpy(name, target, strlen(target) + 1);
	return 1;
}

/* The owner the SRV records must have: qname, or where its CNAME
 * chain ends. */
static int fetch_srv_owner(ns_msg *h, const char *qname, char *name,
			   size_t size, const char **error_r)
{
	int i, hops, n = ns_msg_count(*h, ns_s_an), moved;
	ns_rr rr;

	if (strlen(qname) >= size) {
		*error_r = "name too long";
		return -1;
	}
	memcpy(name, qname, strlen(qname) + 1);
	for (hops = 0; hops < FETCH_SRV_CNAME_MAX; hops++) {
		moved = 0;
		for (i = 0; i < n && moved == 0; i++) {
			if (ns_parserr(h, ns_s_an, i, &rr) < 0) {
				*error_r = "malformed DNS answer";
				return -1;
			}
			moved = fetch_srv_follow(h, &rr, name, size);
		}
		if (moved < 0) {
			*error_r = "malformed CNAME record";
			return -1;
		}
		if (moved == 0)
			break;
	}
	return 0;
}

/* One SRV record's RDATA (RFC 2782 "The format of the SRV RR"). */
static int fetch_srv_record(const ns_msg *h, const ns_rr *rr,
			    struct fetch_srv *srv)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr);
	int used;

	if (rdlen < FETCH_SRV_RDATA_MIN)
		return -1;
	srv->priority = (uint16_t)ns_get16(rd);
	srv->weight = (uint16_t)ns_get16(rd + 2);
	srv->port = (uint16_t)ns_get16(rd + 4);
	/* RFC 2782 forbids compressing the target, RFC 3597 3. asks
	 * receivers to accept it anyway: ns_name_uncompress does both;
	 * the name must fill the rest of the RDATA exactly */
	used = ns_name_uncompress(ns_msg_base(*h), ns_msg_end(*h), rd + 6,
				  srv->target, sizeof(srv->target));
	if (used < 0 || (size_t)used != rdlen - 6)
		return -1;
	return 0;
}

int fetch_srv_parse(const unsigned char *msg, size_t len, const char *qname,
		    struct fetch_srv_list *list, const char **error_r)
{
	char owner[FETCH_SRV_NAME_MAX];
	ns_msg h;
	ns_rr rr;
	int i, n;

	list->count = 0;
	list->dropped = 0;
	if (len > NS_MAXMSG || ns_initparse(msg, (int)len, &h) < 0) {
		*error_r = "malformed DNS answer";
		return -1;
	}
	if (!ns_msg_getflag(h, ns_f_qr) ||
	    ns_msg_getflag(h, ns_f_rcode) != ns_r_noerror) {
		*error_r = "not a successful DNS answer";
		return -1;
	}
	/* res_nquery retries over TCP when it sees TC: a TC answer here
	 * would be missing records, and the choice depends on all */
	if (ns_msg_getflag(h, ns_f_tc)) {
		*error_r = "truncated DNS answer";
		return -1;
	}
	if (fetch_srv_owner(&h, qname, owner, sizeof(owner), error_r) < 0)
		return -1;
	n = ns_msg_count(h, ns_s_an);
	for (i = 0; i < n; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
			*error_r = "malformed DNS answer";
			return -1;
		}
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in ||
		    strcasecmp(ns_rr_name(rr), owner) != 0)
			continue;
		if (list->count == FETCH_SRV_MAX) {
			list->dropped++;
			continue;
		}
		if (fetch_srv_record(&h, &rr, &list->srv[list->count]) < 0) {
			*error_r = "malformed SRV record";
			return -1;
		}
		list->count++;
	}
	return 0;
}

static int fetch_srv_compare(const void *pa, const void *pb)
{
	const struct fetch_srv *a = pa, *b = pb;
	int c;

	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	c = strcasecmp(a->target, b->target);
	if (c != 0)
		return c;
	return a->port < b->port ? -1 : a->port > b->port;
}

void fetch_srv_sort(struct fetch_srv_list *list)
{
	qsort(list->srv, list->count, sizeof(list->srv[0]), fetch_srv_compare);
}

/* The h_errno of a failed res_nquery as a result. */
static enum fetch_srv_result fetch_srv_failed(int herr, const char **error_r)
{
	size_t i;

	for (i = 0; i < sizeof(fetch_srv_herrs) / sizeof(fetch_srv_herrs[0]);
	     i++) {
		if (fetch_srv_herrs[i].herr == herr) {
			*error_r = fetch_srv_herrs[i].why;
			return fetch_srv_herrs[i].result;
		}
	}
	*error_r = "the resolver failed";
	return FETCH_SRV_TEMPFAIL;
}

enum fetch_srv_result fetch_srv_lookup(const char *qname,
				       struct fetch_srv_list *list,
				       const char **error_r)
{
	enum fetch_srv_result ret = FETCH_SRV_TEMPFAIL;
	struct __res_state res;
	unsigned char *answer;
	int n;

	list->count = 0;
	list->dropped = 0;
	/* room for the largest DNS message (RFC 1035 4.2.2, over TCP) */
	answer = malloc(NS_MAXMSG);
	if (answer == NULL) {
		*error_r = "out of memory";
		return FETCH_SRV_TEMPFAIL;
	}
	memset(&res, 0, sizeof(res));
	if (res_ninit(&res) < 0) {
		*error_r = "cannot set up the resolver (/etc/resolv.conf)";
		goto out_free;
	}
	n = res_nquery(&res, qname, ns_c_in, ns_t_srv, answer, NS_MAXMSG);
	if (n < 0)
		ret = fetch_srv_failed(res.res_h_errno, error_r);
	else if (n > NS_MAXMSG)
		*error_r = "DNS answer too long";
	else if (fetch_srv_parse(answer, (size_t)n, qname, list, error_r) == 0)
		ret = list->count == 0 && list->dropped == 0 ? FETCH_SRV_NONE :
							       FETCH_SRV_FOUND;
	res_nclose(&res);
	fetch_srv_sort(list);
out_free:
	free(answer);
	return ret;
}

bool fetch_srv_host_is_valid(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}
