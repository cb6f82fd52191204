/* keyproc.h: the key process (issue 13, docs/security.md): the one
 * process that holds a generation's TLS private key. It reads nothing
 * but its key file (opened for it by the master, as root), its control
 * socket to the master, and the workers' channels (net/keyproto.h); it
 * answers each request with one signature or a refusal. */
#ifndef SATCHEL_KEYPROC_H
#define SATCHEL_KEYPROC_H

struct keyproc_setup {
	int key_fd;          /* tls_key, read from its start then closed */
	const char *key_path; /* for messages */
	int ctl_fd;          /* to the master: the hello; EOF ends us */
	int connect_fd;      /* where workers pass their channels' ends */
};

/* Runs in the forked, privilege-dropped child. Loads the key, sends the
 * master a keyproto_hello, then serves until ctl_fd closes. Returns a
 * sysexits status (EX_CONFIG when the key could not be loaded). */
int keyproc_run(const struct keyproc_setup *setup);

#endif
