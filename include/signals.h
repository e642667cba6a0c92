/* SPDX-License-Identifier: MIT
 * signals.h - the process's stop and reload requests: SIGINT/SIGTERM
 * (stop), SIGHUP (reload), and the run-wide halt a unit's failure sets.
 * Every function may be called from any thread. */
#ifndef PINEMIT_SIGNALS_H
#define PINEMIT_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* Installs the handlers (SIGPIPE ignored).  Call before starting threads. */
void pe_signals_install(void);
/* 0: running; 1: stop after the request in flight; 2: stop now. */
int pe_signals_stop_level(void);
/* The flag itself, for code that polls it (curl, the lock wait). */
const volatile sig_atomic_t *pe_signals_stop_flag(void);
/* A stop was asked, or the run was halted. */
bool pe_signals_stopping(void);
/* A unit's failure ends the whole run (a run limit): set, read, reset. */
void pe_signals_halt(void);
bool pe_signals_halted(void);
void pe_signals_unhalt(void);
/* SIGHUP came (follow mode: reopen the log, re-read the config). */
bool pe_signals_hup_pending(void);
void pe_signals_hup_clear(void);

#endif
