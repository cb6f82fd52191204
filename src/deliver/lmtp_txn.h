/* lmtp_txn.h: the delivery of one received message to its recipients,
 * off the event loop (RFC 2033 4.2).
 *
 * The session hands over its spool and recipients; one job finishes the
 * spool (header filter, one fsync), then one job per recipient, in RCPT
 * order, stores it (delivery_store: durable before it returns). Each
 * recipient's reply is queued from its job's done callback, so it goes
 * out as soon as that recipient and all earlier ones are durable; a
 * store that takes longer than lmtp_recipient_timeout is answered 451
 * 4.2.0 for that recipient alone when the time is up (its job still
 * completes; the idempotent delivery id makes the MTA's retry
 * harmless).
 *
 * A session that leaves meanwhile detaches: the delivery goes on to the
 * end (the message was complete) and only logs. The server counts it
 * (active_txns), so a draining host waits for it. */
#ifndef SATCHEL_LMTP_TXN_H
#define SATCHEL_LMTP_TXN_H

#include "store/delivery.h"

struct lmtp_session;
struct lmtp_txn;

/* Takes s's spool, envelope and recipients and starts the first job;
 * s waits until lmtp_session_txn_done(). 0, or -1 when out of memory
 * (nothing taken). */
int lmtp_txn_start(struct lmtp_session *s);
/* The session is going away: the delivery finishes without it. */
void lmtp_txn_detach(struct lmtp_txn *txn);

/* The SMTP reply code for a delivery result (RFC 3463 class and
 * subject: 452 for 4.2.2 and 4.3.1, 552 for 5.2.2 and 5.3.4, ...). */
unsigned lmtp_txn_reply_code(const struct delivery_result *res);

#endif
