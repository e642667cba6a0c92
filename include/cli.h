/* SPDX-License-Identifier: MIT
 * cli.h - the command line: global options, one command, its options,
 * parsed straight into the options the commands take (struct pe_app_opts). */
#ifndef PINEMIT_CLI_H
#define PINEMIT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
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

/* What the command line says.  The options the commands take are filled
 * in place (opts); main sets only opts.cfg, once the config is loaded. */
struct pe_cli {
    const char *config_path; /* -c, $PINEMIT_CONFIG, or the default */
    enum pe_log_level log_level;
    enum pe_log_format log_format;
    enum pe_command command;
    bool help;    /* --help: usage printed on stdout, exit 0 (the
                     command's own when command is set) */
    bool version; /* --version */
    const char *log_file; /* --log-file PATH */
    /* -n, -q, --metrics-file and the command's options; strings are
     * borrowed from argv, opts.streams points into stream_list. */
    struct pe_app_opts opts;
    const char **stream_list; /* --stream NAME...: owned, see cleanup */
};

#define PE_DEFAULT_CONFIG "/etc/pinemit/pinemit.conf"

/* Parses argv into *cli (argv is borrowed; cli->stream_list must be freed
 * with pe_cli_cleanup).  PE_ERR_USAGE with a message on bad input. */
enum pe_status pe_cli_parse(int argc, char **argv, struct pe_cli *cli,
                            struct pe_error *err);
void pe_cli_cleanup(struct pe_cli *cli);
/* The --help text. */
const char *pe_cli_usage(void);
/* `pinemit CMD --help`: that command's synopsis, description and options
 * (the global text for PE_CMD_NONE). */
const char *pe_cli_command_usage(enum pe_command cmd);

#endif
