/* SPDX-License-Identifier: MIT
 * ratelimit.h - --rate: one token bucket shared by every sender thread,
 * one second deep. */
#ifndef PINEMIT_RATELIMIT_H
#define PINEMIT_RATELIMIT_H

#include <stddef.h>

#include "deliver.h"
#include "util.h"

/* rate: rows per second; 0 = no limit.  Call before senders start. */
void pe_rate_init(double rate);
/* Waits (through pe_deliver_sleep, so a stop or the deadline ends it)
 * until n rows may go, and takes them. */
enum pe_status pe_rate_take(const struct pe_deliver_env *env, size_t n,
                            struct pe_error *err);
/* The records a batch may hold: max, or about a second of rows. */
long pe_rate_batch_max(long max);

#endif
