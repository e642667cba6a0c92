/* SPDX-License-Identifier: MIT
 * signals.c - owns the stop, halt and SIGHUP flags and their handlers.
 * Handlers only set flags; nothing here logs, sleeps or knows a command. */
#include "signals.h"

#include <string.h>

/* Set by SIGINT/SIGTERM: 1 = stop after the request in flight, 2 = now. */
static volatile sig_atomic_t stop_requested;

/* The flags are read by every sender thread, and the handler may run in
 * any of them: lock-free atomics (async-signal-safe) on both sides. */
static void on_stop_signal(int sig)
{
    int level = __atomic_load_n(&stop_requested, __ATOMIC_RELAXED);

    (void)sig;
    /* Two signals at once in two threads both count. */
    while (level < 2 &&
           !__atomic_compare_exchange_n(&stop_requested, &level, level + 1,
                                        false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

const volatile sig_atomic_t *pe_signals_stop_flag(void)
{
    return &stop_requested;
}

int pe_signals_stop_level(void)
{
    return __atomic_load_n(&stop_requested, __ATOMIC_RELAXED);
}

/* Set when a unit's failure ends the whole run (a run limit): the units
 * being sent beside it stop too, as for a signal. */
static int halted;

void pe_signals_halt(void)
{
    __atomic_store_n(&halted, 1, __ATOMIC_RELAXED);
}

bool pe_signals_halted(void)
{
    return __atomic_load_n(&halted, __ATOMIC_RELAXED) != 0;
}

void pe_signals_unhalt(void)
{
    __atomic_store_n(&halted, 0, __ATOMIC_RELAXED);
}

bool pe_signals_stopping(void)
{
    return pe_signals_stop_level() || pe_signals_halted();
}

/* Set by SIGHUP in follow mode: reopen the log, re-read the config. */
static volatile sig_atomic_t hup_requested;

static void on_hup(int sig)
{
    (void)sig;
    __atomic_store_n(&hup_requested, 1, __ATOMIC_RELAXED);
}

bool pe_signals_hup_pending(void)
{
    return __atomic_load_n(&hup_requested, __ATOMIC_RELAXED) != 0;
}

void pe_signals_hup_clear(void)
{
    __atomic_store_n(&hup_requested, 0, __ATOMIC_RELAXED);
}

void pe_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
