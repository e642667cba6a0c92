/* SPDX-License-Identifier: MIT
 * cmd_admin.h - the commands that send nothing: init, check, status. */
#ifndef PINEMIT_CMD_ADMIN_H
#define PINEMIT_CMD_ADMIN_H

#include "opts.h"
#include "util.h"

/* Makes the checkpoint store: the state directory, or the table. */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err);
/* Proves config, state, metrics, database, tables and proxy; prints a
 * line each. */
enum pe_status pe_app_check(const struct pe_app_opts *o, struct pe_error *err);
/* A line per unit: checkpoint, rows pending, open transactions, owner. */
enum pe_status pe_app_status(const struct pe_app_opts *o,
                             struct pe_error *err);

#endif
