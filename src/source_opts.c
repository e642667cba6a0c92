/* SPDX-License-Identifier: MIT
 * source_opts.c - config -> struct pe_source_opts, the one place that
 * knows which settings the source takes.  It must not connect, nor copy
 * or mask the conninfo (the source masks what libpq quotes). */
#include "source_opts.h"

struct pe_source_opts pe_source_opts_from_config(const struct pe_config *c)
{
    struct pe_source_opts o = {
        .conninfo = c->source.conninfo,
        .connect_timeout_s = c->source.connect_timeout_s,
    };

    return o;
}
