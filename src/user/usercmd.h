/* usercmd.h: `satchel user add|passwd|del|list`: manages the passwd-file.
 *
 *   satchel user add|passwd|del|list [-c CONFIG] [-f PASSWD_FILE]
 *	[--scheme SCHEME[,SCHEME...]] [--stdin] [NAME]
 *
 * SCHEME: yescrypt sha512-crypt bcrypt plain scram-sha-256 scram-sha-1;
 * the first goes in the password field, the others in secret= fields.
 *
 * Edits are atomic (temporary file in the same directory, fsync, rename)
 * and serialized by flock() on "<file>.lock", which is left in place:
 * removing it would let a third editor lock a different inode. Lines the
 * tool does not understand are written back unchanged. */
#ifndef SATCHEL_USERCMD_H
#define SATCHEL_USERCMD_H

/* argv[0] is "user". Returns a <sysexits.h> code: EX_USAGE, EX_NOUSER
 * (passwd/del of a missing user), EX_DATAERR (add of an existing user, bad
 * name or password), EX_NOINPUT (no passwd-file), EX_CONFIG, EX_IOERR,
 * EX_TEMPFAIL (lock busy), EX_OSERR. */
int usercmd_main(int argc, char **argv);

#endif
