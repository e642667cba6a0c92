/* SPDX-License-Identifier: MIT
 * cli.c - getopt_long for the global options, then for the command's. */
#include "cli.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
    "             --wait-lock S   wait up to S seconds for another run\n"
    "             --follow        keep polling; SIGHUP re-reads the config\n"
    "             --interval S    seconds between polls (default 5)\n"
    "             --rate N        send at most N rows per second\n"
    "             --jobs N        send up to N streams (or shards) at once,\n"
    "                             each on its own database connection\n"
    "                             (default: run.jobs, else up to 4; one\n"
    "                             with --dry-run or the database store)\n"
    "  replay   resend a key range, or a dead-letter file; no checkpoint\n"
    "           moves and no lock is taken\n"
    "             --stream NAME   only this stream (repeatable)\n"
    "             --from KEY      first key (inclusive; default: the start)\n"
    "             --to KEY        last key (inclusive; default: the end)\n"
    "             --topic TOPIC   send there instead of the stream's topic\n"
    "             --rate N        send at most N rows per second\n"
    "             --jobs N        send up to N streams at once\n"
    "             --dead-letters FILE   resend a dead-letter file instead\n"
    "                                   (not the live one: move it aside)\n"
    "  init     create the checkpoint store (state.dir, or the table of\n"
    "           state.store = \"database\")\n"
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
    "      --log-file FILE   append messages to FILE instead of stderr\n"
    "                        (reopened on SIGHUP)\n"
    "      --metrics-file F  write Prometheus metrics to F after each run\n"
    "  -h, --help            show this help and exit\n"
    "  -V, --version         show the version and exit\n"
    "\n"
    "Exit status: 0 all delivered (or stopped by a signal, checkpoints\n"
    "consistent); 1 runtime failure (database, proxy, files, a run limit);\n"
    "2 usage or config error; 3 finished, but records were dead-lettered;\n"
    "75 another run holds the lock.\n";

const char *pe_cli_usage(void)
{
    return usage_text;
}

/* A whole number in [min, max] for option `opt`. */
static enum pe_status parse_number(const char *opt, const char *s,
                                   long long min, long long max,
                                   long long *out, struct pe_error *err)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "%s: \"%s\" is not a whole number from %lld to "
                            "%lld",
                            opt, s, min, max);
    *out = v;
    return PE_OK;
}

static enum pe_status parse_command(int argc, char **argv, struct pe_cli *cli,
                                    struct pe_error *err)
{
    static const struct option opts[] = {
        {"stream", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"wait-lock", required_argument, NULL, 'w'},
        {"dead-letters", required_argument, NULL, 'd'},
        {"follow", no_argument, NULL, 'f'},
        {"interval", required_argument, NULL, 'i'},
        {"rate", required_argument, NULL, 'r'},
        {"jobs", required_argument, NULL, 'j'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Which command takes which option. */
    static const struct {
        int opt;
        const char *name;
        unsigned commands;
    } allowed[] = {
        {'s', "stream",
         1u << PE_CMD_RUN | 1u << PE_CMD_STATUS | 1u << PE_CMD_REPLAY},
        {'l', "limit", 1u << PE_CMD_RUN},
        {'w', "wait-lock", 1u << PE_CMD_RUN},
        {'d', "dead-letters", 1u << PE_CMD_REPLAY},
        {'f', "follow", 1u << PE_CMD_RUN},
        {'i', "interval", 1u << PE_CMD_RUN},
        {'r', "rate", 1u << PE_CMD_RUN | 1u << PE_CMD_REPLAY},
        {'j', "jobs", 1u << PE_CMD_RUN | 1u << PE_CMD_REPLAY},
        {'F', "from", 1u << PE_CMD_REPLAY},
        {'T', "to", 1u << PE_CMD_REPLAY},
        {'t', "topic", 1u << PE_CMD_REPLAY},
    };
    const char *name = argv[0];
    long long v;
    int c;

    if (strcmp(name, "run") == 0)
        cli->command = PE_CMD_RUN;
    else if (strcmp(name, "check") == 0)
        cli->command = PE_CMD_CHECK;
    else if (strcmp(name, "status") == 0)
        cli->command = PE_CMD_STATUS;
    else if (strcmp(name, "replay") == 0)
        cli->command = PE_CMD_REPLAY;
    else if (strcmp(name, "init") == 0)
        cli->command = PE_CMD_INIT;
    else
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "unknown command \"%s\" (try --help)", name);
    optind = 0; /* 0: glibc's full reset of getopt's state */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            if (allowed[i].opt == c &&
                !(allowed[i].commands & (1u << cli->command)))
                return pe_error_set(err, PE_ERR_USAGE, false,
                                    "%s: option --%s does not apply (try "
                                    "--help)",
                                    name, allowed[i].name);
        switch (c) {
        case 's':
            cli->streams = pe_xrealloc(cli->streams, (cli->n_streams + 1) *
                                                         sizeof(char *));
            cli->streams[cli->n_streams++] = optarg;
            break;
        case 'l':
            if (parse_number("--limit", optarg, 1, LLONG_MAX, &cli->limit,
                             err) != PE_OK)
                return PE_ERR_USAGE;
            break;
        case 'w':
            if (parse_number("--wait-lock", optarg, 0, 86400, &v, err) !=
                PE_OK)
                return PE_ERR_USAGE;
            cli->wait_lock_s = (long)v;
            break;
        case 'd':
            cli->dead_letters = optarg;
            break;
        case 'f':
            cli->follow = true;
            break;
        case 'i':
            if (parse_number("--interval", optarg, 1, 86400, &v, err) !=
                PE_OK)
                return PE_ERR_USAGE;
            cli->interval_s = (long)v;
            break;
        case 'r': {
            char *end;

            errno = 0;
            cli->rate = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' ||
                !(cli->rate > 0) || cli->rate > 1e9)
                return pe_error_set(err, PE_ERR_USAGE, false,
                                    "--rate: \"%s\" is not a positive "
                                    "number of rows per second",
                                    optarg);
            break;
        }
        case 'j':
            if (parse_number("--jobs", optarg, 1, PE_MAX_JOBS, &v, err) !=
                PE_OK)
                return PE_ERR_USAGE;
            cli->jobs = (long)v;
            break;
        case 'F':
            cli->from_key = optarg;
            break;
        case 'T':
            cli->to_key = optarg;
            break;
        case 't':
            cli->topic = optarg;
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
        }
    }
    if (cli->command == PE_CMD_REPLAY && cli->dead_letters != NULL &&
        (cli->from_key || cli->to_key || cli->topic || cli->n_streams ||
         cli->rate > 0 || cli->jobs > 0))
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "replay: --dead-letters cannot be combined with "
                            "--stream, --from, --to, --topic, --rate or "
                            "--jobs");
    /* One topic for every stream would mix them all in it. */
    if (cli->command == PE_CMD_REPLAY && cli->topic != NULL &&
        cli->n_streams == 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "replay: --topic needs --stream: name the "
                            "stream(s) to send to %s",
                            cli->topic);
    if (cli->interval_s != 0 && !cli->follow)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "run: --interval goes with --follow");
    if (cli->follow && cli->limit != 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "run: --limit cannot be combined with --follow");
    if (cli->follow && cli->interval_s == 0)
        cli->interval_s = 5;
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
        {"log-file", required_argument, NULL, 'L'},
        {"metrics-file", required_argument, NULL, 'M'},
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
        case 'L':
            cli->log_file = optarg;
            break;
        case 'M':
            cli->metrics_file = optarg;
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
    cli->quiet = quiet;
    if (quiet)
        cli->log_level = PE_LOG_ERROR;
    else if (verbose == 1)
        cli->log_level = PE_LOG_INFO;
    else if (verbose > 1)
        cli->log_level = PE_LOG_DEBUG;
    if (optind >= argc)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "no command given: run, replay, check or "
                            "status "
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
