/* SPDX-License-Identifier: MIT
 * notify.c - owns the socket to the service manager and the watchdog's
 * clock: what sd_notify(3) does, in a page, so that pinemit needs no
 * libsystemd.  It decides nothing: the follow loop says when it is ready,
 * reloading or stopping, and the loops of a pass call the watchdog. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define STATUS_MAX 200 /* bytes of a status line */

/* Set by pe_notify_open before any thread starts, cleared by
 * pe_notify_close after they end: read-only in between. */
static int sock_fd = -1;
static struct sockaddr_un sock_addr;
static socklen_t sock_len;
static int64_t ping_every_ms; /* 0: no watchdog */
/* When the last WATCHDOG=1 went (monotonic ms); any thread updates it. */
static int64_t last_ping_ms;

uint64_t pe_notify_watchdog_usec(const char *usec, const char *pid,
                                 long self)
{
    unsigned long long v;
    char *end;

    if (usec == NULL || *usec < '0' || *usec > '9')
        return 0;
    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0)
        return 0;
    if (pid != NULL) {
        long p;

        /* Set for another process (a wrapper's child): not ours. */
        if (*pid < '0' || *pid > '9')
            return 0;
        errno = 0;
        p = strtol(pid, &end, 10);
        if (errno != 0 || *end != '\0' || p != self)
            return 0;
    }
    return (uint64_t)v;
}

int pe_notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n;

    if (name == NULL || (name[0] != '/' && name[0] != '@'))
        return -1;
    n = strlen(name);
    if (n < 2 && name[0] == '@')
        return -1;
    if (n >= sizeof(sa->sun_path))
        return -1; /* a path needs its NUL; '@' stands for one */
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, name, n);
    if (name[0] == '@') {
        /* Abstract: a leading NUL, and the length says where it ends. */
        sa->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

void pe_notify_open(void)
{
    uint64_t usec;

    pe_notify_close();
    if (pe_notify_addr(getenv("NOTIFY_SOCKET"), &sock_addr, &sock_len) != 0)
        return;
    sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock_fd < 0)
        return;
    usec = pe_notify_watchdog_usec(getenv("WATCHDOG_USEC"),
                                   getenv("WATCHDOG_PID"), (long)getpid());
    ping_every_ms = (int64_t)(usec / 2000);
    if (usec > 0 && ping_every_ms == 0)
        ping_every_ms = 1;
    last_ping_ms = 0;
}

void pe_notify_close(void)
{
    if (sock_fd >= 0)
        close(sock_fd);
    sock_fd = -1;
    ping_every_ms = 0;
}

void pe_notify_send(const char *msg)
{
    if (sock_fd < 0)
        return;
    /* A full queue or a manager gone: the service goes on without it. */
    (void)sendto(sock_fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
                 (const struct sockaddr *)&sock_addr, sock_len);
}

/* The length of s[0..n) without a character cut short at its end
 * (systemd drops a status that is not UTF-8). */
static size_t utf8_whole(const char *s, size_t n)
{
    size_t k = n, need;
    unsigned char lead;

    while (k > 0 && n - k < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0)
        return n;
    lead = (unsigned char)s[k - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return n - (k - 1) < need ? k - 1 : n;
}

void pe_notify_status(const char *fmt, ...)
{
    char msg[sizeof("STATUS=") + STATUS_MAX];
    size_t pre = sizeof("STATUS=") - 1, n;
    va_list ap;
    int w;

    if (sock_fd < 0)
        return;
    memcpy(msg, "STATUS=", pre);
    va_start(ap, fmt);
    w = vsnprintf(msg + pre, sizeof(msg) - pre, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    n = strlen(msg);
    if ((size_t)w >= sizeof(msg) - pre)
        n = pre + utf8_whole(msg + pre, n - pre);
    msg[n] = '\0';
    for (size_t i = pre; i < n; i++)
        if (msg[i] == '\n' || msg[i] == '\r')
            msg[i] = ' '; /* a newline would start another assignment */
    pe_notify_send(msg);
}

void pe_notify_reloading(void)
{
    char msg[64];
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%lld",
             (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
    pe_notify_send(msg);
}

void pe_notify_watchdog(void)
{
    int64_t now, last;

    if (sock_fd < 0 || ping_every_ms == 0)
        return;
    now = pe_now_mono_ms();
    last = __atomic_load_n(&last_ping_ms, __ATOMIC_RELAXED);
    if (last != 0 && now - last < ping_every_ms)
        return;
    /* Of threads that find it due at once, one pings. */
    if (__atomic_compare_exchange_n(&last_ping_ms, &last, now, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        pe_notify_send("WATCHDOG=1");
}
