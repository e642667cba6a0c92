/* SPDX-License-Identifier: MIT
 * app.h - the commands: run, check, status.  Wires config -> source ->
 * encoder -> batcher -> sink -> checkpoint for each stream. */
#ifndef PINEMIT_APP_H
#define PINEMIT_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "opts.h"
#include "util.h"

/* Each returns PE_OK or an error.  An error whose msg is empty has been
 * reported already (one line per failed stream). */
enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err);
/* Resends the records of a dead-letter file (o->dead_letters). */
enum pe_status pe_app_replay(const struct pe_app_opts *o,
                             struct pe_error *err);
/* Makes the checkpoint store: the state directory, or the table. */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err);
enum pe_status pe_app_check(const struct pe_app_opts *o, struct pe_error *err);
enum pe_status pe_app_status(const struct pe_app_opts *o,
                             struct pe_error *err);

#endif
