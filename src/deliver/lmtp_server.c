/* lmtp_server.c: the host-independent part of an LMTP process (see
 * lmtp_server.h). */
#include "deliver/lmtp_server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/ioloop.h"

const struct lmtp_store_ops lmtp_store_delivery = {
	.spool_create = delivery_spool_create,
	.spool_write = delivery_spool_write,
	.spool_finish = delivery_spool_finish,
	.message_id = delivery_spool_message_id,
	.store = delivery_store,
	.spool_destroy = delivery_spool_destroy,
};

void lmtp_server_init(struct lmtp_server *srv, const struct config *cfg)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->store = &lmtp_store_delivery;
	if (cfg->hostname[0] != '\0')
		snprintf(srv->hostname, sizeof(srv->hostname), "%s",
			 cfg->hostname);
	else if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) < 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
	srv->dset.mboxrd = cfg->mbox_rd;
	srv->dset.nul_refuse = cfg->delivery_refuse_nul;
	srv->dset.quota_permanent = cfg->quota_permanent;
	srv->dset.dedup_days = cfg->delivery_dedup_days;
	/* lock waits inside one store end before the recipient's limit */
	srv->dset.deadline_secs = cfg->lmtp_recipient_timeout;
	srv->dset.hostname = srv->hostname;
	srv->dset.store_marker = cfg->mail_store_marker;
}

void lmtp_server_check_idle(struct lmtp_server *srv)
{
	if (srv->draining && srv->nsessions == 0 && srv->active_txns == 0)
		ioloop_stop(srv->loop);
}
