/* storeroot.h: the mail store's marker file (config mail_store_marker).
 *
 * A store on a mount (NFS, a shared disk) that is not mounted looks like
 * an empty directory tree: logins would see empty maildrops, a Maildir
 * made with create would hide the real one after the mount, deliveries
 * would land on the local disk. A marker file that exists only on the
 * mounted store tells the two apart; while it is missing, every open
 * and every delivery is a temporary failure. */
#ifndef SATCHEL_STOREROOT_H
#define SATCHEL_STOREROOT_H

/* marker NULL or "": nothing to check. Returns 0, or -1 with *error_r
 * (static text) when the marker cannot be opened (ENOENT: not mounted;
 * any other errno: the store cannot be read). open, not stat, so an NFS
 * client revalidates the lookup (close-to-open). */
int storeroot_check(const char *marker, const char **error_r);

#endif
