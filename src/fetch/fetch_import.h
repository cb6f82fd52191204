/* fetch_import.h: the UIDL state of other POP3 fetchers, taken into an
 * account's journal so that switching to satchel fetches nothing twice:
 *
 *	mpop:FILE       mpop's uidls_file: blocks " COUNT HOST USER" then
 *	                COUNT UIDLs, one per line ('#' comments)
 *	fetchmail:FILE  fetchmail's .fetchids: "USER@HOST UIDL" per line
 *	getmail:FILE    getmail's oldmail-* file: "UIDL\0TIMESTAMP" per
 *	                line
 *
 * Only the entries of the account's user and host are taken (getmail
 * keeps one file per account). Each becomes a journal entry first seen
 * now (getmail: at its timestamp). */
#ifndef SATCHEL_FETCH_IMPORT_H
#define SATCHEL_FETCH_IMPORT_H

#include <stddef.h>

#include "fetch/fetch.h"

/* Imports spec into the account's journal (fetch_state_path) and syncs
 * it. Returns a fetch_exit; prints the count or the error. */
int fetch_import(const struct fetch_account *a, const char *spec);

#endif
