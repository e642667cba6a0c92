/* SPDX-License-Identifier: MIT
 * test_notify.c - the sd_notify side of --follow: WATCHDOG_USEC and
 * WATCHDOG_PID parsing, the socket address for a path and for the
 * abstract namespace, and what arrives on a real datagram socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

static void watchdog_usec_parsed(void **state)
{
    (void)state;
    assert_true(pe_notify_watchdog_usec("1000000", NULL, 42) == 1000000);
    assert_true(pe_notify_watchdog_usec("18446744073709551615", NULL, 42) ==
                UINT64_MAX);
    assert_true(pe_notify_watchdog_usec("1000000", "42", 42) == 1000000);
}

static void watchdog_usec_refused(void **state)
{
    (void)state;
    assert_true(pe_notify_watchdog_usec(NULL, NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec("", NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec("0", NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec("-5", NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec(" 5", NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec("5s", NULL, 42) == 0);
    assert_true(pe_notify_watchdog_usec("18446744073709551616", NULL, 42) ==
                0);
    /* WATCHDOG_PID names another process, or is not a pid. */
    assert_true(pe_notify_watchdog_usec("1000000", "43", 42) == 0);
    assert_true(pe_notify_watchdog_usec("1000000", "", 42) == 0);
    assert_true(pe_notify_watchdog_usec("1000000", "42x", 42) == 0);
}

static void addr_path(void **state)
{
    struct sockaddr_un sa;
    socklen_t len = 0;

    (void)state;
    assert_int_equal(pe_notify_addr("/run/systemd/notify", &sa, &len), 0);
    assert_int_equal(sa.sun_family, AF_UNIX);
    assert_string_equal(sa.sun_path, "/run/systemd/notify");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 20);
}

static void addr_abstract(void **state)
{
    struct sockaddr_un sa;
    socklen_t len = 0;

    (void)state;
    assert_int_equal(pe_notify_addr("@sd/notify", &sa, &len), 0);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_memory_equal(sa.sun_path + 1, "sd/notify", 9);
    /* No trailing NUL: the length ends the name. */
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);
}

static void addr_refused(void **state)
{
    struct sockaddr_un sa;
    socklen_t len = 0;
    char longest[sizeof(sa.sun_path) + 1];

    (void)state;
    assert_int_equal(pe_notify_addr(NULL, &sa, &len), -1);
    assert_int_equal(pe_notify_addr("", &sa, &len), -1);
    assert_int_equal(pe_notify_addr("@", &sa, &len), -1);
    assert_int_equal(pe_notify_addr("run/notify", &sa, &len), -1);
    assert_int_equal(pe_notify_addr("vsock:2:1234", &sa, &len), -1);
    memset(longest, 'a', sizeof(longest) - 1);
    longest[0] = '/';
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(pe_notify_addr(longest, &sa, &len), -1);
    longest[sizeof(longest) - 2] = '\0'; /* 107 bytes and the NUL fit */
    assert_int_equal(pe_notify_addr(longest, &sa, &len), 0);
}

/* A bound datagram socket standing in for systemd's. */
struct listener {
    int fd;
    char path[64];
};

static void listen_on(struct listener *l)
{
    struct sockaddr_un sa;
    socklen_t len;

    snprintf(l->path, sizeof(l->path), "/tmp/test_notify.%ld",
             (long)getpid());
    unlink(l->path);
    assert_int_equal(pe_notify_addr(l->path, &sa, &len), 0);
    l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(l->fd >= 0);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, len), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", l->path, 1), 0);
}

static void listen_end(struct listener *l)
{
    pe_notify_close();
    close(l->fd);
    unlink(l->path);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
}

/* The next datagram, or "" when none is waiting. */
static const char *next_message(const struct listener *l)
{
    static char buf[512];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void messages_arrive(void **state)
{
    struct listener l;
    char long_line[300];
    const char *m;

    (void)state;
    listen_on(&l);
    pe_notify_send("READY=1"); /* not open yet: nothing */
    assert_string_equal(next_message(&l), "");
    pe_notify_open();
    pe_notify_send("READY=1");
    assert_string_equal(next_message(&l), "READY=1");
    pe_notify_status("sent %d rows;\nREADY=1", 5);
    assert_string_equal(next_message(&l), "STATUS=sent 5 rows; READY=1");
    /* 199 ASCII bytes and a 2-byte character: cut before it. */
    memset(long_line, 'x', 199);
    strcpy(long_line + 199, "\xc3\xa9yz");
    pe_notify_status("%s", long_line);
    m = next_message(&l);
    assert_int_equal(strlen(m), 7 + 199);
    pe_notify_reloading();
    assert_memory_equal(next_message(&l), "RELOADING=1\nMONOTONIC_USEC=", 27);
    pe_notify_watchdog(); /* no WATCHDOG_USEC: no pings */
    assert_string_equal(next_message(&l), "");
    listen_end(&l);
}

static void watchdog_pings_at_half_period(void **state)
{
    struct listener l;

    (void)state;
    listen_on(&l);
    assert_int_equal(setenv("WATCHDOG_USEC", "200000", 1), 0);
    pe_notify_open();
    pe_notify_watchdog();
    assert_string_equal(next_message(&l), "WATCHDOG=1");
    pe_notify_watchdog(); /* within 100 ms of the last: nothing */
    assert_string_equal(next_message(&l), "");
    usleep(120 * 1000);
    pe_notify_watchdog();
    assert_string_equal(next_message(&l), "WATCHDOG=1");
    pe_notify_close();
    pe_notify_watchdog(); /* closed: nothing, no crash */
    assert_string_equal(next_message(&l), "");
    listen_end(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watchdog_usec_parsed),
        cmocka_unit_test(watchdog_usec_refused),
        cmocka_unit_test(addr_path),
        cmocka_unit_test(addr_abstract),
        cmocka_unit_test(addr_refused),
        cmocka_unit_test(messages_arrive),
        cmocka_unit_test(watchdog_pings_at_half_period),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
