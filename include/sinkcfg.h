/* SPDX-License-Identifier: MIT
 * sinkcfg.h - what the sink needs from the config: its options (with the
 * secrets from the environment), the Kinesis batch frame, the largest
 * record it takes.  The sink factory is to take this over. */
#ifndef PINEMIT_SINKCFG_H
#define PINEMIT_SINKCFG_H

#include <stddef.h>

#include "batch.h"
#include "config.h"
#include "sink_http.h"
#include "util.h"

/* Fills *so from c; the strings are borrowed from c and the environment.
 * A secret missing from the environment is PE_ERR_CONFIG. */
enum pe_status pe_sinkcfg_opts(const struct pe_config *c,
                               struct pe_sink_opts *so, struct pe_error *err);
/* Frames b as a Kinesis PutRecords body for `stream`. */
void pe_sinkcfg_kinesis_frame(struct pe_batch *b, const char *stream);
/* The largest record the sink takes; *what names the limit. */
size_t pe_sinkcfg_record_limit(const struct pe_config *c, const char **what);

#endif
