/* sdnotify.h: telling systemd how the service is doing (the sd_notify(3)
 * protocol: "KEY=value" lines in one datagram to $NOTIFY_SOCKET). */
#ifndef SATCHEL_SDNOTIFY_H
#define SATCHEL_SDNOTIFY_H

/* Sends text ("READY=1\nSTATUS=...") when NOTIFY_SOCKET is set. 0 (also
 * when it is unset: not run by systemd), or -1 with errno. */
int sdnotify_send(const char *text);

#endif
