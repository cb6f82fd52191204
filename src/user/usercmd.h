/* usercmd.h: `satchel user add|passwd|del|list`: manages the passwd-file.
 *
 *   satchel user add|passwd|del|list [-c CONFIG] [-f PASSWD_FILE]
 *	[--scheme SCHEME[,SCHEME...]] [--stdin] [NAME]
 *
 * SCHEME: yescrypt sha512-crypt bcrypt plain scram-sha-256 scram-sha-1;
 * the first goes in the password field, the others in secret= fields.
 *
 * Edits are atomic (fileio_replace) and serialized by flock() on
 * "<file>.lock"; lines the tool does not change are written back byte for
 * byte (userfile.h). The code: usercmd.c (options, the action table),
 * userfile.c (the file, through auth/passwd.h's parser), usersecret.c
 * (reading and hashing the password). */
#ifndef SATCHEL_USERCMD_H
#define SATCHEL_USERCMD_H

/* argv[0] is "user". Returns a <sysexits.h> code: EX_USAGE, EX_NOUSER
 * (passwd/del of a missing user), EX_DATAERR (add of an existing user, bad
 * name or password), EX_NOINPUT (no passwd-file), EX_CONFIG, EX_IOERR,
 * EX_TEMPFAIL (lock busy), EX_OSERR. */
int usercmd_main(int argc, char **argv);

#endif
