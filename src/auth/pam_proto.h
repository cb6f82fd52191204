/* pam_proto.h: the messages between the auth process and its root
 * helpers for system users (userdb_pam.c, pampool.c, pam_helper.c,
 * sysspawn.c). Every message is one SOCK_SEQPACKET packet of a fixed
 * struct; a packet of another size is a protocol error and ends the
 * connection. The helpers run as root and trust only what a struct can
 * hold: every string is checked for its NUL before use. */
#ifndef SATCHEL_PAM_PROTO_H
#define SATCHEL_PAM_PROTO_H

#include <stdint.h>

#include "auth/auth_limits.h"

#define PAM_SERVICE_MAX 64        /* a file name in /etc/pam.d */
#define PAM_CONFDIR_MAX 1024
#define PAM_RHOST_MAX 64          /* an address as text, with port */
#define PAM_PASSWORD_MAX 512      /* as HASHPOOL_PASSWORD_MAX */
#define PAM_HOME_MAX 1024
#define PAM_WHY_MAX 128

/* ---- auth -> spawner (sysspawn.c), answered by one octet, with the
 * auth side of a new socketpair attached on success ---- */
enum sysspawn_kind {
	SYSSPAWN_PAM_HELPER = 1,  /* a PAM helper (pam_helper.c) */
	SYSSPAWN_AGENT = 2,       /* a mail agent (sysspawn_agent.c) */
};

struct sysspawn_request {
	uint32_t kind;
	uint32_t pad;
};

#define SYSSPAWN_PATH_MAX 1024    /* AUTH_PATH_MAX */

/* The agent spawner's one request: a mail agent for the user who has
 * just logged in, as the auth process found them (never what a worker
 * says). The spawner checks uid and gid itself (sysspawn.h). */
struct sysspawn_agent_request {
	uint32_t kind;            /* SYSSPAWN_AGENT */
	uint32_t mail_kind;       /* MAILDROP_MAILDIR or MAILDROP_MBOX */
	int64_t uid, gid;
	char path[SYSSPAWN_PATH_MAX];    /* the expanded maildrop path */
};

/* ---- auth -> PAM helper ---- */
enum pam_msg_kind {
	PAM_MSG_LOOKUP = 1,       /* the system's record of user */
	PAM_MSG_CHECK = 2,        /* pam_authenticate + pam_acct_mgmt */
};

struct pam_request {
	uint32_t kind;
	uint32_t pad;
	uint64_t id;              /* echoed */
	char service[PAM_SERVICE_MAX];
	char confdir[PAM_CONFDIR_MAX];   /* "" = the system's */
	char user[PASSWD_USER_MAX + 1];
	char rhost[PAM_RHOST_MAX];
	char password[PAM_PASSWORD_MAX]; /* PAM_MSG_CHECK; wiped after use */
};

enum pam_verdict {
	PAM_VERDICT_MATCH = 0,
	PAM_VERDICT_MISMATCH = 1,  /* wrong password, unknown user */
	PAM_VERDICT_REFUSED = 2,   /* right password, pam_acct_mgmt said no */
	PAM_VERDICT_UNAVAILABLE = 3, /* PAM could not answer: [SYS/TEMP] */
	PAM_VERDICT_FOUND = 4,     /* PAM_MSG_LOOKUP: uid, gid, home */
	PAM_VERDICT_UNKNOWN = 5,   /* PAM_MSG_LOOKUP: no such user */
};

struct pam_answer {
	uint32_t kind;
	uint32_t verdict;          /* enum pam_verdict */
	uint64_t id;
	uint32_t delay_ms;         /* the failure delay PAM asked for */
	int32_t pam_code;          /* the PAM return code, for the log */
	int64_t uid, gid;
	char home[PAM_HOME_MAX];
	char why[PAM_WHY_MAX];     /* pam_strerror() of a failure */
};

#endif
