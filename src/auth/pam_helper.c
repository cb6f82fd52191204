/* pam_helper.c: a PAM helper process (see pam_helper.h). */
#include "auth/pam_helper.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "auth/pam_proto.h"
#include "util/log.h"

/* The delay PAM asked for in the current check. Module-global because
 * PAM's delay callback gets no context of ours that is safe to use after
 * pam_end; safe since a helper is one thread doing one check at a time. */
static unsigned pam_helper_delay_ms;

static void pam_helper_delay(int retval, unsigned usec, void *appdata)
{
	(void)appdata;
	/* called for successes too: only a failure is delayed */
	if (retval != PAM_SUCCESS)
		pam_helper_delay_ms = usec / 1000;
}

/* Answers prompts: the password to those that do not echo, the user
 * name to those that do; messages are ignored (nobody reads them). */
static int pam_helper_conv(int n, const struct pam_message **msg,
			   struct pam_response **resp, void *appdata)
{
	const struct pam_request *req = appdata;
	struct pam_response *r;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		const char *text = NULL;

		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			text = req->password;
		else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			text = req->user;
		if (text == NULL)
			continue;
		r[i].resp = strdup(text);
		if (r[i].resp == NULL)
			goto out_fail;
	}
	*resp = r;
	return PAM_SUCCESS;

out_fail:
	for (i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_BUF_ERR;
}

/* The verdict of a pam_authenticate or pam_acct_mgmt return code. */
static enum pam_verdict pam_helper_verdict(int rc, bool acct)
{
	switch (rc) {
	case PAM_SUCCESS:
		return PAM_VERDICT_MATCH;
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
	case PAM_PERM_DENIED:
		return acct ? PAM_VERDICT_REFUSED : PAM_VERDICT_MISMATCH;
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD: /* no way to change it over POP3 */
	case PAM_AUTHTOK_EXPIRED:
		return PAM_VERDICT_REFUSED;
	default:                  /* PAM_AUTHINFO_UNAVAIL, PAM_SYSTEM_ERR */
		return PAM_VERDICT_UNAVAILABLE;
	}
}

static void pam_helper_check(const struct pam_request *req,
			     struct pam_answer *ans)
{
	struct pam_conv conv = { pam_helper_conv, (void *)req };
	const char *confdir = req->confdir[0] != '\0' ? req->confdir : NULL;
	pam_handle_t *h = NULL;
	int rc;

	pam_helper_delay_ms = 0;
	rc = pam_start_confdir(req->service, req->user, &conv, confdir, &h);
	if (rc != PAM_SUCCESS) {
		ans->verdict = PAM_VERDICT_UNAVAILABLE;
		ans->pam_code = rc;
		snprintf(ans->why, sizeof(ans->why), "pam_start: %s",
			 pam_strerror(NULL, rc));
		return;
	}
	/* the delay comes back to the auth process's timer (see .h) */
	rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)pam_helper_delay);
	if (rc == PAM_SUCCESS && req->rhost[0] != '\0')
		rc = pam_set_item(h, PAM_RHOST, req->rhost);
	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	ans->verdict = pam_helper_verdict(rc, false);
	if (rc == PAM_SUCCESS) {
		rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
		ans->verdict = pam_helper_verdict(rc, true);
	}
	ans->pam_code = rc;
	if (rc != PAM_SUCCESS)
		snprintf(ans->why, sizeof(ans->why), "%s",
			 pam_strerror(h, rc));
	ans->delay_ms = pam_helper_delay_ms;
	pam_end(h, rc);
}

void pam_helper_lookup(const char *user, struct pam_answer *ans)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int rc;

	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc != 0) {
		ans->verdict = PAM_VERDICT_UNAVAILABLE;
		snprintf(ans->why, sizeof(ans->why), "getpwnam: %s",
			 strerror(rc));
		return;
	}
	if (res == NULL || pw.pw_dir == NULL ||
	    strlen(pw.pw_dir) >= sizeof(ans->home)) {
		ans->verdict = PAM_VERDICT_UNKNOWN;
		return;
	}
	ans->verdict = PAM_VERDICT_FOUND;
	ans->uid = pw.pw_uid;
	ans->gid = pw.pw_gid;
	strcpy(ans->home, pw.pw_dir);
}

/* True when s holds a NUL within size (a string we may use). */
static bool pam_helper_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool pam_helper_valid(const struct pam_request *req)
{
	return (req->kind == PAM_MSG_LOOKUP || req->kind == PAM_MSG_CHECK) &&
	       pam_helper_terminated(req->service, sizeof(req->service)) &&
	       pam_helper_terminated(req->confdir, sizeof(req->confdir)) &&
	       pam_helper_terminated(req->user, sizeof(req->user)) &&
	       pam_helper_terminated(req->rhost, sizeof(req->rhost)) &&
	       pam_helper_terminated(req->password, sizeof(req->password)) &&
	       req->service[0] != '\0' && strchr(req->service, '/') == NULL &&
	       req->user[0] != '\0';
}

int pam_helper_run(int fd)
{
	struct pam_request req;
	struct pam_answer ans;
	ssize_t n;

	log_set_role("pam");
	for (;;) {
		n = recv(fd, &req, sizeof(req), 0);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(req) || !pam_helper_valid(&req)) {
			explicit_bzero(&req, sizeof(req));
			log_error("pam helper: bad request (%zd octets)", n);
			return EX_PROTOCOL;
		}
		memset(&ans, 0, sizeof(ans));
		ans.kind = req.kind;
		ans.id = req.id;
		ans.uid = ans.gid = -1;
		if (req.kind == PAM_MSG_CHECK)
			pam_helper_check(&req, &ans);
		else
			pam_helper_lookup(req.user, &ans);
		explicit_bzero(&req, sizeof(req));
		if (send(fd, &ans, sizeof(ans), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(ans))
			return EX_IOERR; /* the auth process went away */
	}
	return EX_OK;
}
