/* userfile.h: the passwd-file side of `satchel user`: checking, editing
 * and listing users, through auth/passwd.h's parser and line iterator.
 *
 * Edits keep every line they do not change byte for byte (comments,
 * lines the parser refuses, CRLF endings), are written with
 * fileio_replace (readers see the old or the new file, never half) and
 * are serialized by flock() on "<file>.lock", which is left in place:
 * removing it would let a third editor lock a different inode.
 *
 * Every function prints its own error on stderr and returns a
 * <sysexits.h> code. */
#ifndef SATCHEL_USERFILE_H
#define SATCHEL_USERFILE_H

#include "auth/passwd.h"

enum userfile_edit {
	USERFILE_ADD,      /* a new line at the end */
	USERFILE_PASSWD,   /* field 2 and the secret= fields replaced */
	USERFILE_DEL,      /* the user's line(s) dropped */
};

/* Whether the edit can be made as the file is now, before the password
 * is asked for (so a typo in the name is reported at once): EX_OK,
 * EX_DATAERR (add of an existing user), EX_NOUSER, EX_NOINPUT (no file,
 * except for add), EX_NOPERM, EX_IOERR, EX_OSERR. */
int userfile_check(const char *path, enum userfile_edit edit,
		   const char *name);

/* Makes the edit under the lock, checking again first. hash is the new
 * password field ("{SCHEME}..."), extras the new " secret=..." fields
 * ("" for none); both unused for del. Codes of userfile_check, and
 * EX_TEMPFAIL (the lock stayed busy), EX_CANTCREAT, EX_USAGE (path too
 * long). */
int userfile_apply(const char *path, enum userfile_edit edit,
		   const char *name, const char *hash, const char *extras);

/* Prints "user<TAB>schemes[<TAB>apop][<TAB>disabled]" per user on stdout
 * and each line the parser refuses on stderr. EX_OK, EX_NOINPUT,
 * EX_IOERR, EX_OSERR. */
int userfile_list(const char *path);
/* One user as userfile_list prints it (usersql.c lists the same way). */
void userfile_print_entry(const struct passwd_entry *entry);

#endif
