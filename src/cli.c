/* SPDX-License-Identifier: MIT
 * cli.c - getopt_long for the global options, then for the command's. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: pinemit [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
    "\n"
    "Send rows from PostgreSQL tables to Kafka through the Confluent REST\n"
    "Proxy (API v2), in batches, resuming from a checkpoint per stream.\n"
    "\n"
    "Commands:\n"
    "  run      send every row past each stream's checkpoint, in key order\n"
    "             --stream NAME   only this stream (repeatable)\n"
    "             --limit N       send at most N rows per stream\n"
    "  check    validate the config, connect to the database, reach the\n"
    "           proxy (GET <invoke_url>/topics)\n"
    "  status   show each stream's checkpoint and how many rows wait past it\n"
    "             --stream NAME   only this stream (repeatable)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE     config file (default: $PINEMIT_CONFIG, else\n"
    "                        " PE_DEFAULT_CONFIG ")\n"
    "  -n, --dry-run         print the request bodies on stdout, one JSON\n"
    "                        document per line; send nothing, move no\n"
    "                        checkpoint\n"
    "  -v, --verbose         more messages (repeat for debug)\n"
    "  -q, --quiet           errors only\n"
    "      --log-format FMT  text (default) or json (one object per line)\n"
    "  -h, --help            show this help and exit\n"
    "  -V, --version         show the version and exit\n"
    "\n"
    "Exit status: 0 all delivered; 1 runtime failure (database, proxy, files);\n"
    "2 usage or config error; 3 finished but records were dead-lettered\n"
    "(reserved); 75 another run holds the lock.\n";

const char *pe_cli_usage(void)
{
    return usage_text;
}

static enum pe_status parse_limit(const char *s, long long *out,
                                  struct pe_error *err)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "--limit: \"%s\" is not a positive integer", s);
    *out = v;
    return PE_OK;
}

static enum pe_status parse_command(int argc, char **argv, struct pe_cli *cli,
                                    struct pe_error *err)
{
    static const struct option opts[] = {
        {"stream", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = argv[0];
    int c;

    if (strcmp(name, "run") == 0)
        cli->command = PE_CMD_RUN;
    else if (strcmp(name, "check") == 0)
        cli->command = PE_CMD_CHECK;
    else if (strcmp(name, "status") == 0)
        cli->command = PE_CMD_STATUS;
    else
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "unknown command \"%s\" (try --help)", name);
    optind = 0; /* 0: glibc's full reset of getopt's state */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cli->command == PE_CMD_CHECK)
                goto unknown;
            cli->streams = pe_xrealloc(cli->streams, (cli->n_streams + 1) *
                                                         sizeof(char *));
            cli->streams[cli->n_streams++] = optarg;
            break;
        case 'l':
            if (cli->command != PE_CMD_RUN)
                goto unknown;
            if (parse_limit(optarg, &cli->limit, err) != PE_OK)
                return PE_ERR_USAGE;
            break;
        case 'h':
            cli->help = true;
            break;
        case ':':
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: option %s needs a value", name,
                                argv[optind - 1]);
        default:
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: unknown option %s (try --help)", name,
                                argv[optind - 1]);
        unknown:
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: option --%s does not apply (try --help)",
                                name, c == 's' ? "stream" : "limit");
        }
    }
    if (optind < argc)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "%s: unexpected argument \"%s\"", name,
                            argv[optind]);
    return PE_OK;
}

enum pe_status pe_cli_parse(int argc, char **argv, struct pe_cli *cli,
                            struct pe_error *err)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"log-format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("PINEMIT_CONFIG");
    int verbose = 0;
    bool quiet = false;
    int c;

    memset(cli, 0, sizeof(*cli));
    cli->config_path = env && *env ? env : PE_DEFAULT_CONFIG;
    cli->log_level = PE_LOG_WARN;
    optind = 0; /* 0: glibc's full reset of getopt's state */
    opterr = 0;
    /* '+': stop at the command; its options are parsed separately. */
    while ((c = getopt_long(argc, argv, "+:c:nvqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli->config_path = optarg;
            break;
        case 'n':
            cli->dry_run = true;
            break;
        case 'v':
            verbose++;
            break;
        case 'q':
            quiet = true;
            break;
        case 'F':
            if (strcmp(optarg, "text") == 0)
                cli->log_format = PE_LOG_TEXT;
            else if (strcmp(optarg, "json") == 0)
                cli->log_format = PE_LOG_JSON;
            else
                return pe_error_set(err, PE_ERR_USAGE, false,
                                    "--log-format: \"%s\" is not text or json",
                                    optarg);
            break;
        case 'h':
            cli->help = true;
            return PE_OK;
        case 'V':
            cli->version = true;
            return PE_OK;
        case ':':
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "option %s needs a value", argv[optind - 1]);
        default:
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "unknown option %s (try --help)",
                                argv[optind - 1]);
        }
    }
    if (quiet && verbose > 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "-q and -v cannot be used together");
    if (quiet)
        cli->log_level = PE_LOG_ERROR;
    else if (verbose == 1)
        cli->log_level = PE_LOG_INFO;
    else if (verbose > 1)
        cli->log_level = PE_LOG_DEBUG;
    if (optind >= argc)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "no command given: run, check or status "
                            "(try --help)");
    return parse_command(argc - optind, argv + optind, cli, err);
}

void pe_cli_cleanup(struct pe_cli *cli)
{
    if (cli == NULL)
        return;
    free(cli->streams);
    cli->streams = NULL;
    cli->n_streams = 0;
}
