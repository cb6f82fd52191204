/* usersql.h: the SQLite side of `satchel user` (usercmd.h): the same
 * edits as userfile.h, on the users table of an SQLite database (made
 * with its schema by add and import when missing; WAL mode), and import
 * of a passwd-file. Every function prints its own error on stderr and
 * returns a <sysexits.h> code, as userfile.h's do. */
#ifndef SATCHEL_USERSQL_H
#define SATCHEL_USERSQL_H

#include "user/userfile.h"
#include "user/usersecret.h"

#define USERSQL_SECRETS_MAX USERSECRET_EXTRAS_MAX

int usersql_check(const char *path, enum userfile_edit edit,
		  const char *name);
/* hash: the password column; extras (" secret=..." fields, as
 * usersecret_make gives them) go in the secrets column. */
int usersql_apply(const char *path, enum userfile_edit edit,
		  const char *name, const char *hash, const char *extras);
/* The users as the server's SQLite driver reads them, in the format of
 * userfile_list. */
int usersql_list(const char *path);
/* Copies every user of the passwd-file passwd_path (secrets, ids, home,
 * mail, quota, login_delay, expire) into the database in one
 * transaction; a user already there fails the whole import (EX_DATAERR)
 * and nothing is added. */
int usersql_import(const char *path, const char *passwd_path);

#endif
