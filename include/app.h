/* SPDX-License-Identifier: MIT
 * app.h - the commands main() dispatches to: run (cmd_run.h), replay
 * (cmd_replay.h), init, check and status (cmd_admin.h).  Each returns
 * PE_OK or an error; an error whose msg is empty has been reported
 * already (one line per failed stream). */
#ifndef PINEMIT_APP_H
#define PINEMIT_APP_H

#include "cmd_admin.h"
#include "cmd_replay.h"
#include "cmd_run.h"
#include "opts.h"

#endif
