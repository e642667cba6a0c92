/* SPDX-License-Identifier: MIT
 * config_sink.h - the reader of the `sink` section (with its retry and
 * aws_sigv4 groups) into pe_config.sink.  Config layer only. */
#ifndef PINEMIT_CONFIG_SINK_H
#define PINEMIT_CONFIG_SINK_H

#include "config.h"
#include "config_read.h"

/* Reads the sink group g (present) into c->sink; what it allocates is
 * freed by pe_config_cleanup, also on failure. */
enum pe_status pe_config_read_sink(struct pe_cfg_reader *r,
                                   const config_setting_t *g,
                                   struct pe_config *c);
/* sink.retry.max_backoff_ms against initial_backoff_ms, once both are read.
 * Separate because pe_config_load checks it after the metrics section. */
enum pe_status pe_config_check_backoff(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       const struct pe_config *c);

#endif
