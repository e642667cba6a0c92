/* SPDX-License-Identifier: MIT
 * source_opts.h - the source's options (struct pe_source_opts), built from
 * the config in one place for every command that connects. */
#ifndef PINEMIT_SOURCE_OPTS_H
#define PINEMIT_SOURCE_OPTS_H

#include "config.h"
#include "source_pg.h"

/* Strings are borrowed from c: valid while c is. */
struct pe_source_opts pe_source_opts_from_config(const struct pe_config *c);

#endif
