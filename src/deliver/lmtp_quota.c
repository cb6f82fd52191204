/* lmtp_quota.c: the quota check at RCPT time (issue 8, 7.: 452 4.2.2 at
 * RCPT rather than after the data), as a job: quota_check reads and may
 * rebuild maildirsize, which can take a directory scan. */
#include <stdio.h>
#include <stdlib.h>

#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "store/quota.h"
#include "util/jobpool.h"
#include "util/log.h"

struct lmtp_quota_job {
	struct jobpool_job job;        /* first: the pool's link */
	struct lmtp_session *session;  /* NULL once it left */
	char path[AUTH_PATH_MAX];
	struct quota_limits limits;
	uint64_t size;
	bool over;
	int ret;
	const char *error;
};

static void quota_job_run(struct jobpool_job *job)
{
	struct lmtp_quota_job *j = (struct lmtp_quota_job *)job;

	j->error = NULL;
	j->ret = quota_check(j->path, &j->limits, j->size, &j->over,
			     &j->error);
}

static void quota_job_done(struct jobpool_job *job)
{
	struct lmtp_quota_job *j = (struct lmtp_quota_job *)job;
	struct lmtp_session *s = j->session;

	if (s == NULL) {
		free(j);
		return;
	}
	s->quota_job = NULL;
	if (j->ret < 0) {
		log_error("quota of %s: %s", s->pending.user,
			  j->error != NULL ? j->error : "unknown error");
		lmtp_session_reply(s, "451 4.3.0 <%s>: cannot check the "
				   "quota", s->pending.address);
	} else if (j->over) {
		if (s->srv->cfg->quota_permanent)
			lmtp_session_reply(s, "552 5.2.2 <%s>: mailbox full",
					   s->pending.address);
		else
			lmtp_session_reply(s, "452 4.2.2 <%s>: mailbox full",
					   s->pending.address);
	} else {
		lmtp_cmd_rcpt_accept(s);
	}
	free(j);
	lmtp_session_resume(s);
}

int lmtp_quota_check(struct lmtp_session *s)
{
	struct lmtp_quota_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->job.run = quota_job_run;
	j->job.done = quota_job_done;
	j->session = s;
	snprintf(j->path, sizeof(j->path), "%s", s->pending.path);
	j->limits.bytes = s->pending.quota_bytes;
	j->limits.messages = s->pending.quota_messages;
	/* RFC 1870: the SIZE the client declared, else nothing known */
	j->size = s->mail.have_size ? s->mail.size : 0;
	s->quota_job = j;
	s->waiting = true;
	jobpool_submit(s->srv->jobs, &j->job);
	return 0;
}

void lmtp_quota_detach(struct lmtp_session *s)
{
	if (s->quota_job != NULL) {
		s->quota_job->session = NULL;
		s->quota_job = NULL;
	}
}
