/* authcmd.h: `satchel auth`: talks to the running auth processes (see
 * authcmd.c). */
#ifndef SATCHEL_AUTHCMD_H
#define SATCHEL_AUTHCMD_H

/* satchel auth flush [USER] [-c FILE]; a sysexits code. */
int authcmd_main(int argc, char **argv);

#endif
