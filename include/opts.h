/* SPDX-License-Identifier: MIT
 * opts.h - what a command was asked to do: the options the CLI fills and
 * every layer below the commands reads.  Plain data; the config is
 * borrowed. */
#ifndef PINEMIT_OPTS_H
#define PINEMIT_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

/* pe_cli_parse fills it (cli.opts) and main sets cfg once the config is
 * loaded; nothing copies it field by field. */
struct pe_app_opts {
    const struct pe_config *cfg;
    bool dry_run;
    const char *const *streams; /* selected stream names; none = all */
    size_t n_streams;
    long long limit; /* rows per stream, 0 = no limit */
    long wait_lock_s; /* wait this long for the run lock */
    const char *dead_letters; /* replay: the dead-letter file to resend */
    bool follow;              /* run: poll until stopped */
    long interval_s;          /* between polls */
    double rate;              /* rows per second; 0 = no limit */
    long jobs;                /* --jobs; 0: run.jobs of the config */
    const char *from_key;     /* replay range, inclusive; NULL: open */
    const char *to_key;
    const char *topic;        /* replay: topic override */
    const char *metrics_file; /* NULL: none (cfg->metrics.file applies) */
    bool quiet;               /* -q: no progress bar, no summary */
    bool json;                /* status --json: JSON Lines on stdout */
    bool offline;             /* check --offline: the config alone */
};

/* Is stream `name` selected (--stream; none given: every stream)? */
bool pe_opts_selected(const struct pe_app_opts *o, const char *name);
/* Rejects --stream names the config does not define (PE_ERR_USAGE). */
enum pe_status pe_opts_check_selection(const struct pe_app_opts *o,
                                       struct pe_error *err);

#endif
