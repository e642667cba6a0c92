/* SPDX-License-Identifier: MIT
 * cmd_replay.h - the replay command: a key range sent again, or the
 * records of a dead-letter file resent. */
#ifndef PINEMIT_CMD_REPLAY_H
#define PINEMIT_CMD_REPLAY_H

#include "opts.h"
#include "util.h"

/* o->dead_letters set: resends that file's records; else the range
 * o->from_key..o->to_key of the selected streams. */
enum pe_status pe_app_replay(const struct pe_app_opts *o,
                             struct pe_error *err);

#endif
