/* SPDX-License-Identifier: MIT
 * cmd_run.h - the run command: one pass over the units, or --follow's
 * polls with SIGHUP reloads. */
#ifndef PINEMIT_CMD_RUN_H
#define PINEMIT_CMD_RUN_H

#include "opts.h"
#include "util.h"

/* PE_OK or an error.  An error whose msg is empty has been reported
 * already (one line per failed stream). */
enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err);

#endif
