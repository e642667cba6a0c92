/* SPDX-License-Identifier: MIT
 * config_streams.h - the reader of the `streams` list into
 * pe_config.streams.  Config layer only. */
#ifndef PINEMIT_CONFIG_STREAMS_H
#define PINEMIT_CONFIG_STREAMS_H

#include "config.h"
#include "config_read.h"

/* Reads root's `streams` (required, at least one) into c->streams and
 * c->n_streams.  Needs c->user_id and c->sink.kind read already: a stream's
 * default topic and the topic name rules come from them.  What it
 * allocates is freed by pe_config_cleanup, also on failure. */
enum pe_status pe_config_read_streams(struct pe_cfg_reader *r,
                                      const config_setting_t *root,
                                      struct pe_config *c);

/* Frees what the reader allocated for one stream. */
void pe_config_stream_cleanup(struct pe_stream_config *s);

#endif
