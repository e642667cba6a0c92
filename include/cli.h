/* SPDX-License-Identifier: MIT
 * cli.h - the command line: global options, one command, its options. */
#ifndef PINEMIT_CLI_H
#define PINEMIT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "util.h"

enum pe_command {
    PE_CMD_NONE = 0,
    PE_CMD_RUN,
    PE_CMD_CHECK,
    PE_CMD_STATUS,
    PE_CMD_REPLAY,
    PE_CMD_INIT
};

struct pe_cli {
    const char *config_path; /* -c, $PINEMIT_CONFIG, or the default */
    bool dry_run;
    enum pe_log_level log_level;
    enum pe_log_format log_format;
    enum pe_command command;
    bool help;    /* --help: usage printed on stdout, exit 0 (the
                     command's own when command is set) */
    bool version; /* --version */
    const char **streams; /* --stream NAME..., borrowed from argv */
    size_t n_streams;
    long long limit; /* --limit N, 0 = none */
    long wait_lock_s; /* run --wait-lock SECONDS */
    const char *dead_letters; /* replay --dead-letters FILE */
    bool follow;              /* run --follow */
    long interval_s;          /* run --interval SECONDS (follow) */
    double rate;              /* run/replay --rate ROWS_PER_S; 0 = none */
    long jobs;                /* run/replay --jobs N; 0 = the config's */
    const char *from_key;     /* replay --from KEY */
    const char *to_key;       /* replay --to KEY */
    const char *topic;        /* replay --topic OVERRIDE */
    const char *metrics_file; /* --metrics-file PATH */
    const char *log_file;     /* --log-file PATH */
    bool quiet;               /* -q */
};

#define PE_DEFAULT_CONFIG "/etc/pinemit/pinemit.conf"

/* Parses argv into *cli (argv is borrowed; cli->streams must be freed with
 * pe_cli_cleanup).  PE_ERR_USAGE with a message on bad input. */
enum pe_status pe_cli_parse(int argc, char **argv, struct pe_cli *cli,
                            struct pe_error *err);
void pe_cli_cleanup(struct pe_cli *cli);
/* The --help text. */
const char *pe_cli_usage(void);
/* `pinemit CMD --help`: that command's synopsis, description and options
 * (the global text for PE_CMD_NONE). */
const char *pe_cli_command_usage(enum pe_command cmd);

#endif
