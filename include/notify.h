/* SPDX-License-Identifier: MIT
 * notify.h - the service manager's side of --follow: the sd_notify
 * protocol (READY, STATUS, RELOADING, STOPPING, WATCHDOG) without
 * libsystemd.  Messages are datagrams to $NOTIFY_SOCKET; sending never
 * blocks and its failures are ignored.  Until pe_notify_open() has found
 * a socket, every send does nothing. */
#ifndef PINEMIT_NOTIFY_H
#define PINEMIT_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and opens the
 * socket.  Call once, before starting threads. */
void pe_notify_open(void);
/* Closes the socket; later sends do nothing. */
void pe_notify_close(void);
/* Sends `msg`, newline-separated assignments such as "READY=1". */
void pe_notify_send(const char *msg);
/* Sends "STATUS=" and the formatted line (cut at 200 bytes). */
void pe_notify_status(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* "RELOADING=1" with the monotonic time systemd >= 253 asks for. */
void pe_notify_reloading(void);
/* Sends "WATCHDOG=1" when half the watchdog period has passed since the
 * last one; else nothing.  Cheap; any thread may call it from a loop
 * that makes progress (never from a timer: a stuck loop must stop). */
void pe_notify_watchdog(void);

/* The watchdog period in microseconds (pings go at half of it) for
 * WATCHDOG_USEC `usec` and WATCHDOG_PID `pid` (either may be NULL) in
 * process `self`: 0 (no pings) unless usec is a positive decimal and pid
 * is NULL or `self`. */
uint64_t pe_notify_watchdog_usec(const char *usec, const char *pid,
                                 long self);
/* Fills *sa and *len for socket name `name`: a path ("/run/...") or,
 * with a leading '@', a name in the abstract namespace.  -1 when name
 * is NULL, empty, of another form, or too long. */
int pe_notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len);

#endif
