/* fetch_configure.c: `satchel fetch --configure ADDRESS`: an account
 * block from the domain's SRV records (fetch_configure.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch.h"
#include "fetch/fetch_configure.h"
#include "fetch/fetch_session.h"
#include "fetch/popurl.h"

static const struct {
	const char *prefix;
	bool implicit_tls;
} fetch_configure_services[FETCH_CONFIGURE_SERVICES] = {
	/* RFC 8314 5.1: implicit TLS is preferred to STARTTLS */
	[FETCH_CONFIGURE_POP3S] = { "_pop3s._tcp.", true },
	[FETCH_CONFIGURE_POP3] = { "_pop3._tcp.", false },
};

/* RFC 5322 3.2.3 atext besides letters and digits */
#define FETCH_CONFIGURE_ATEXT "!#$%&'*+-/=?^_`{|}~"

/* An escaped untrusted name: up to 4 octets (\xNN) for each. */
#define FETCH_CONFIGURE_SHOWN_MAX (4 * FETCH_SRV_NAME_MAX + 1)

/* RFC 5322 3.2.3 dot-atom: atoms of atext joined by single dots. */
static bool fetch_configure_local_is_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > FETCH_CONFIGURE_LOCAL_MAX || s[0] == '.' ||
	    s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			/* s[len - 1] is no dot: s[i + 1] is inside */
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') ||
		      (c != '\0' && strchr(FETCH_CONFIGURE_ATEXT, c) != NULL)))
			return false;
	}
	return true;
}

int fetch_configure_address(const char *address, char *local,
			    size_t local_size, char *domain,
			    size_t domain_size, const char **error_r)
{
	const char *at = strchr(address, '@'), *d;
	size_t llen, dlen, i;

	if (at == NULL) {
		*error_r = "not local@domain (the local part is the login "
			   "name the account needs)";
		return -1;
	}
	if (strchr(at + 1, '@') != NULL) {
		*error_r = "more than one '@' (a quoted local part is not "
			   "taken: write the account by hand)";
		return -1;
	}
	llen = (size_t)(at - address);
	if (!fetch_configure_local_is_valid(address, llen)) {
		*error_r = "the local part is not an RFC 5322 dot-atom of "
			   "ASCII of 1 to 64 octets";
		return -1;
	}
	d = at + 1;
	dlen = strlen(d);
	/* a fully qualified "example.com." is the same domain */
	if (dlen > 0 && d[dlen - 1] == '.')
		dlen--;
	if (dlen + strlen(fetch_configure_services[0].prefix) >
		    FETCH_CONFIGURE_DOMAIN_MAX ||
	    dlen >= domain_size || llen >= local_size) {
		*error_r = "the domain is too long for its SRV names";
		return -1;
	}
	memcpy(domain, d, dlen);
	domain[dlen] = '\0';
	/* DNS names compare without case; the block shows one form */
	for (i = 0; i < dlen; i++) {
		if (domain[i] >= 'A' && domain[i] <= 'Z')
			domain[i] = (char)(domain[i] - 'A' + 'a');
	}
	if (!fetch_srv_host_is_valid(domain)) {
		*error_r = "the domain is not a host name (an "
			   "internationalized one goes in its xn-- form)";
		return -1;
	}
	memcpy(local, address, llen);
	local[llen] = '\0';
	return 0;
}

/* target as the comments show it. ns_name_ntop wrote odd octets as
 * \DDD already (zone file syntax, as dig shows them): anything else
 * unprintable is escaped once more. */
static const char *fetch_configure_shown(const char *target, char *buf,
					 size_t size)
{
	size_t i, len = strlen(target);

	for (i = 0; i < len; i++) {
		if ((unsigned char)target[i] <= 0x20 ||
		    (unsigned char)target[i] >= 0x7f) {
			fetch_untrusted(target, len, buf, size);
			return buf;
		}
	}
	return target;
}

/* Why the block cannot use srv, or NULL when it can. */
static const char *fetch_configure_unusable(const struct fetch_srv *srv)
{
	if (strcmp(srv->target, ".") == 0)
		return "not offered (RFC 2782)";
	if (!fetch_srv_host_is_valid(srv->target))
		return "not a host name: ignored";
	if (srv->port == 0)
		return "port 0: ignored";
	return NULL;
}

/* The first usable record of the first service that has one, or
 * NULL. The lists are sorted: the first is the best (fetch_srv_sort). */
static const struct fetch_srv *
fetch_configure_choose(const struct fetch_configure_found *f,
		       enum fetch_configure_service *service_r)
{
	size_t s, i;

	for (s = 0; s < FETCH_CONFIGURE_SERVICES; s++) {
		for (i = 0; i < f->lists[s].count; i++) {
			if (fetch_configure_unusable(&f->lists[s].srv[i]) ==
			    NULL) {
				*service_r = (enum fetch_configure_service)s;
				return &f->lists[s].srv[i];
			}
		}
	}
	return NULL;
}

/* Why fetch_configure_choose found nothing, for the user. */
static const char *
fetch_configure_why_none(const struct fetch_configure_found *f)
{
	size_t s, i, records = 0, dots = 0;

	for (s = 0; s < FETCH_CONFIGURE_SERVICES; s++) {
		records += f->lists[s].count + f->lists[s].dropped;
		for (i = 0; i < f->lists[s].count; i++)
			dots += strcmp(f->lists[s].srv[i].target, ".") == 0;
	}
	if (records == 0)
		return "no SRV record of POP3 (_pop3s._tcp, _pop3._tcp)";
	if (dots == records)
		return "the domain says it offers no POP3 (SRV target \".\", "
		       "RFC 2782)";
	return "no SRV record of POP3 names a usable host and port";
}

void fetch_configure_records(FILE *out, const struct fetch_configure_found *f)
{
	enum fetch_configure_service service;
	const struct fetch_srv *chosen = fetch_configure_choose(f, &service);
	char shown[FETCH_CONFIGURE_SHOWN_MAX];
	size_t s, i;

	for (s = 0; s < FETCH_CONFIGURE_SERVICES; s++) {
		const struct fetch_srv_list *list = &f->lists[s];
		const char *name = fetch_configure_services[s].prefix;

		if (list->count == 0)
			fprintf(out, "# %s%s  no SRV record\n", name,
				f->domain);
		for (i = 0; i < list->count; i++) {
			const struct fetch_srv *srv = &list->srv[i];
			const char *why = fetch_configure_unusable(srv);

			fprintf(out, "# %s%s  SRV %u %u %u %s%s%s\n", name,
				f->domain, srv->priority, srv->weight,
				srv->port,
				fetch_configure_shown(srv->target, shown,
						      sizeof(shown)),
				srv == chosen ? "  <- the url below" :
				why != NULL ? "  " : "",
				srv == chosen || why == NULL ? "" : why);
		}
		if (list->dropped > 0)
			fprintf(out, "# %s%s  and %zu more SRV records, not "
				"looked at\n", name, f->domain, list->dropped);
	}
}

/* The URL of srv for user, written as popurl_format writes it and
 * checked to parse back. 0 or -1. */
static int fetch_configure_url(const struct fetch_srv *srv, bool tls,
			       const char *user, char *out, size_t size)
{
	struct popurl url, again;
	const char *why;

	memset(&url, 0, sizeof(url));
	url.implicit_tls = tls;
	url.auth = POPURL_AUTH_USER;
	url.port = srv->port;
	if (strlen(user) >= sizeof(url.user) ||
	    strlen(srv->target) >= sizeof(url.host))
		return -1;
	memcpy(url.user, user, strlen(user) + 1);
	memcpy(url.host, srv->target, strlen(srv->target) + 1);
	if (popurl_format(&url, out, size) < 0 ||
	    popurl_parse(out, &again, &why) < 0)
		return -1;
	return 0;
}

/* Whether host is domain or inside it. */
static bool fetch_configure_in_domain(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);

	if (h < d || strcasecmp(host + h - d, domain) != 0)
		return false;
	return h == d || host[h - d - 1] == '.';
}

int fetch_configure_print(FILE *out, const struct fetch_configure_found *f,
			  const char **error_r)
{
	enum fetch_configure_service service = FETCH_CONFIGURE_POP3S;
	const struct fetch_srv *srv = fetch_configure_choose(f, &service);
	char url[1024], address[FETCH_CONFIGURE_LOCAL_MAX + 1 +
				FETCH_CONFIGURE_DOMAIN_MAX + 1], alt[1024];
	bool tls;

	if (srv == NULL) {
		*error_r = fetch_configure_why_none(f);
		return FETCH_EXIT_UNAVAILABLE;
	}
	tls = fetch_configure_services[service].implicit_tls;
	snprintf(address, sizeof(address), "%s@%s", f->local, f->domain);
	if (fetch_configure_url(srv, tls, f->local, url, sizeof(url)) < 0 ||
	    fetch_configure_url(srv, tls, address, alt, sizeof(alt)) < 0) {
		*error_r = "the server's URL does not parse back";
		return FETCH_EXIT_UNAVAILABLE;
	}
	fprintf(out,
		"# satchel fetch --configure %s\n"
		"# From the SRV records of %s (RFC 6186; implicit TLS first,\n"
		"# RFC 8314 5.1). Without DNSSEC an answer can be forged:\n"
		"# check the server before this goes into the accounts file.\n",
		address, f->domain);
	fetch_configure_records(out, f);
	if (!fetch_configure_in_domain(srv->target, f->domain))
		fprintf(out, "# %s is not in %s: make sure it serves your "
			"mail.\n", srv->target, f->domain);
	fprintf(out, "[%s]\n", address);
	if (!tls)
		fprintf(out, "# no implicit TLS (_pop3s._tcp): STLS is then "
			"required before the login\n");
	fprintf(out,
		"url = %s\n"
		"to = %s\n"
		"# yes: leave the mail on the server (no: delete it once it\n"
		"# is stored here; 30d: 30 days after it was fetched)\n"
		"keep = yes\n"
		"# the password is asked for on the terminal unless one is set:\n"
		"# password_file = FILE (mode 0600)\n"
		"# password_command = pass show mail/%s\n"
		"# if the server wants the whole address as the login name:\n"
		"# url = %s\n",
		url, f->dest, address, alt);
	if (fflush(out) != 0 || ferror(out)) {
		*error_r = "cannot write the account block";
		return FETCH_EXIT_IOERR;
	}
	return FETCH_EXIT_OK;
}

/* The block's "to": given, or the Maildir in $HOME. It goes into a
 * line of the accounts file as it is: no control octet (a newline would
 * start a line of its own), no blank at its ends (the reader trims
 * them). */
static int fetch_configure_dest(const char *given, char *buf, size_t size,
				const char **dest_r, const char **error_r)
{
	const char *home = getenv("HOME"), *dest = given;
	size_t i, len;
	int n;

	if (dest == NULL) {
		if (home == NULL || home[0] != '/') {
			*error_r = "no HOME for the Maildir: give --to DEST";
			return -1;
		}
		n = snprintf(buf, size, "maildir:%s/Maildir", home);
		if (n < 0 || (size_t)n >= size) {
			*error_r = "HOME is too long: give --to DEST";
			return -1;
		}
		dest = buf;
	}
	len = strlen(dest);
	for (i = 0; i < len; i++) {
		if ((unsigned char)dest[i] < 0x20 || dest[i] == 0x7f)
			break;
	}
	if (len == 0 || i < len || dest[0] == ' ' || dest[len - 1] == ' ') {
		*error_r = "the destination must be one line without blanks "
			   "at its ends";
		return -1;
	}
	*dest_r = dest;
	return 0;
}

int fetch_configure(const char *address, const char *dest)
{
	char local[FETCH_CONFIGURE_LOCAL_MAX + 1];
	char domain[FETCH_CONFIGURE_DOMAIN_MAX + 1];
	char qname[FETCH_SRV_NAME_MAX], buf[4096];
	struct fetch_configure_found *f;
	const char *why;
	size_t s;
	int ret;

	if (fetch_configure_address(address, local, sizeof(local), domain,
				    sizeof(domain), &why) < 0) {
		fetch_untrusted(address, strlen(address), buf, sizeof(buf));
		fprintf(stderr, "satchel fetch: --configure %s: %s\n", buf,
			why);
		return FETCH_EXIT_USAGE;
	}
	if (fetch_configure_dest(dest, buf, sizeof(buf), &dest, &why) < 0) {
		fprintf(stderr, "satchel fetch: --configure: %s\n", why);
		return FETCH_EXIT_USAGE;
	}
	/* two lists of FETCH_SRV_MAX names: not for the stack */
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		fprintf(stderr, "satchel fetch: --configure: out of memory\n");
		return FETCH_EXIT_TEMPFAIL;
	}
	f->local = local;
	f->domain = domain;
	f->dest = dest;
	for (s = 0; s < FETCH_CONFIGURE_SERVICES; s++) {
		snprintf(qname, sizeof(qname), "%s%s",
			 fetch_configure_services[s].prefix, domain);
		/* a failed lookup might have held the better server: no
		 * choice from half the answers */
		if (fetch_srv_lookup(qname, &f->lists[s], &why) ==
		    FETCH_SRV_TEMPFAIL) {
			fprintf(stderr, "satchel fetch: --configure: %s: %s; "
				"try again later\n", qname, why);
			ret = FETCH_EXIT_TEMPFAIL;
			goto out_free;
		}
	}
	ret = fetch_configure_print(stdout, f, &why);
	if (ret == FETCH_EXIT_UNAVAILABLE) {
		fprintf(stderr, "satchel fetch: --configure: %s: %s; ask the "
			"provider for its POP3 server and write the account "
			"by hand (satchel(1), FETCH)\n", domain, why);
		fetch_configure_records(stderr, f);
	} else if (ret != FETCH_EXIT_OK) {
		fprintf(stderr, "satchel fetch: --configure: %s\n", why);
	}
out_free:
	free(f);
	return ret;
}
