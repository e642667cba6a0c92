/* SPDX-License-Identifier: MIT
 * app.h - the commands: run, check, status.  Wires config -> source ->
 * encoder -> batcher -> sink -> checkpoint for each stream. */
#ifndef PINEMIT_APP_H
#define PINEMIT_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

/* What a command is asked to do: pe_cli_parse fills it (cli.opts) and
 * main sets cfg once the config is loaded; nothing copies it field by
 * field. */
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
};

/* Each returns PE_OK or an error.  An error whose msg is empty has been
 * reported already (one line per failed stream). */
enum pe_status pe_app_run(const struct pe_app_opts *o, struct pe_error *err);
/* Resends the records of a dead-letter file (o->dead_letters). */
enum pe_status pe_app_replay(const struct pe_app_opts *o,
                             struct pe_error *err);
/* Makes the checkpoint store: the state directory, or the table. */
enum pe_status pe_app_init(const struct pe_app_opts *o, struct pe_error *err);
enum pe_status pe_app_check(const struct pe_app_opts *o, struct pe_error *err);
enum pe_status pe_app_status(const struct pe_app_opts *o,
                             struct pe_error *err);

#endif
