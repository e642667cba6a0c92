/* SPDX-License-Identifier: MIT
 * cli.c - getopt_long for the global options, then for the command's. */
#include "cli.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Each command's option lines, indented by I: in the global help and in
 * the command's own. */
#define STREAM_OPT(I) I "--stream NAME   only this stream (repeatable)\n"
#define RUN_OPTS(I)                                                          \
    STREAM_OPT(I)                                                            \
    I "--limit N       send at most N rows per stream\n"                     \
    I "--wait-lock S   wait up to S seconds for another run\n"               \
    I "--follow        keep polling; SIGHUP re-reads the config\n"           \
    I "--interval S    seconds between polls (default 5)\n"                  \
    I "--rate N        send at most N rows per second\n"                     \
    I "--jobs N        send up to N streams (or shards) at once,\n"          \
    I "                each on its own database connection\n"                \
    I "                (default: run.jobs, else up to 4; one\n"              \
    I "                with --dry-run or the database store)\n"
#define REPLAY_OPTS(I)                                                       \
    STREAM_OPT(I)                                                            \
    I "--from KEY      first key (inclusive; default: the start)\n"          \
    I "--to KEY        last key (inclusive; default: the end)\n"             \
    I "--topic TOPIC   send there instead of the stream's topic\n"           \
    I "--rate N        send at most N rows per second\n"                     \
    I "--jobs N        send up to N streams at once\n"                       \
    I "--dead-letters FILE   resend a dead-letter file instead\n"            \
    I "                      (not the live one: move it aside)\n"
#define CHECK_OPTS(I)                                                        \
    I "--offline       the config alone: no database, no proxy\n"
#define STATUS_OPTS(I)                                                       \
    STREAM_OPT(I)                                                            \
    I "--json          one JSON object per stream (or shard) a line\n"
#define CMD_HELP "\n  -h, --help      show this help and exit\n"
#define IN_LIST "             "
#define IN_CMD "  "

static const char usage_text[] =
    "Usage: pinemit [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
    "\n"
    "Send rows from PostgreSQL tables to Kafka through the Confluent REST\n"
    "Proxy (API v2), or to Amazon Kinesis Data Streams (sink.kind =\n"
    "\"kinesis\"), in batches, resuming from a checkpoint per stream.\n"
    "\n"
    "Commands:\n"
    "  run      send every row past each stream's checkpoint, in key order\n"
    RUN_OPTS(IN_LIST)
    "  replay   resend a key range, or a dead-letter file; no checkpoint\n"
    "           moves and no lock is taken\n"
    REPLAY_OPTS(IN_LIST)
    "  init     create the checkpoint store (state.dir, or the table of\n"
    "           state.store = \"database\")\n"
    "  check    validate the config, connect to the database, reach the\n"
    "           proxy (GET <invoke_url>/topics) or Kinesis (ListStreams)\n"
    CHECK_OPTS(IN_LIST)
    "  status   show each stream's checkpoint and how many rows wait past it\n"
    STATUS_OPTS(IN_LIST)
    "\n"
    "Options:\n"
    "  -c, --config FILE     config file (default: $PINEMIT_CONFIG, else\n"
    "                        " PE_DEFAULT_CONFIG ")\n"
    "  -n, --dry-run         print the request bodies on stdout, one JSON\n"
    "                        document per line; send nothing, move no\n"
    "                        checkpoint\n"
    "  -v, --verbose         more messages (repeat for debug)\n"
    "  -q, --quiet           errors and the dead-letter line only (no line\n"
    "                        for exit 75)\n"
    "      --log-format FMT  text (default) or json (one object per line)\n"
    "      --log-file FILE   append messages to FILE instead of stderr\n"
    "                        (reopened on SIGHUP)\n"
    "      --metrics-file F  write Prometheus metrics to F after each run\n"
    "  -h, --help            show this help and exit\n"
    "  -V, --version         show the version and exit\n"
    "The options may also follow the command.  pinemit COMMAND --help\n"
    "shows that command's own help.\n"
    "\n"
    "Exit status: 0 all delivered (or stopped by a signal, checkpoints\n"
    "consistent); 1 runtime failure (database, proxy, files, a run limit);\n"
    "2 usage or config error; 3 finished, but records were dead-lettered;\n"
    "75 another run holds the lock.\n";

/* One command's --help: synopsis, what it does, its options. */
static const char *const command_usage[] = {
    [PE_CMD_RUN] =
        "Usage: pinemit [OPTIONS] run [--stream NAME]... [--limit N]\n"
        "           [--wait-lock S] [--follow [--interval S]] [--rate N]\n"
        "           [--jobs N]\n"
        "\n"
        "Send every row past each stream's checkpoint, in key order, and\n"
        "move the checkpoint after each acknowledged batch.\n"
        "\n" RUN_OPTS(IN_CMD) CMD_HELP,
    [PE_CMD_REPLAY] =
        "Usage: pinemit [OPTIONS] replay [--stream NAME]... [--from KEY]\n"
        "           [--to KEY] [--topic TOPIC] [--rate N] [--jobs N]\n"
        "       pinemit [OPTIONS] replay --dead-letters FILE\n"
        "\n"
        "Resend a key range, or the records of a dead-letter file; no\n"
        "checkpoint moves and no lock is taken.\n"
        "\n" REPLAY_OPTS(IN_CMD) CMD_HELP,
    [PE_CMD_INIT] = "Usage: pinemit [OPTIONS] init\n"
                    "\n"
                    "Create the checkpoint store: state.dir, or the table "
                    "of\nstate.store = \"database\".\n" CMD_HELP,
    [PE_CMD_CHECK] =
        "Usage: pinemit [OPTIONS] check [--offline]\n"
        "\n"
        "Validate the config, connect to the database, open every stream's\n"
        "table and reach the sink (GET <invoke_url>/topics, or Kinesis\n"
        "ListStreams); one line per check on stdout.\n"
        "\n" CHECK_OPTS(IN_CMD) CMD_HELP,
    [PE_CMD_STATUS] =
        "Usage: pinemit [OPTIONS] status [--stream NAME]... [--json]\n"
        "\n"
        "Show each stream's checkpoint (- before its first run) and how\n"
        "many rows wait past it, on stdout.\n"
        "\n" STATUS_OPTS(IN_CMD) CMD_HELP,
};

const char *pe_cli_usage(void)
{
    return usage_text;
}

const char *pe_cli_command_usage(enum pe_command cmd)
{
    if ((size_t)cmd < sizeof(command_usage) / sizeof(command_usage[0]) &&
        command_usage[cmd] != NULL)
        return command_usage[cmd];
    return usage_text;
}

/* Long-only global options: codes outside the characters, so they never
 * meet a command option's code. */
enum { OPT_LOG_FORMAT = 256, OPT_LOG_FILE, OPT_METRICS_FILE };

#define GLOBAL_LONG_OPTIONS                                                  \
    {"config", required_argument, NULL, 'c'},                                \
        {"dry-run", no_argument, NULL, 'n'},                                 \
        {"verbose", no_argument, NULL, 'v'},                                 \
        {"quiet", no_argument, NULL, 'q'},                                   \
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},             \
        {"log-file", required_argument, NULL, OPT_LOG_FILE},                 \
        {"metrics-file", required_argument, NULL, OPT_METRICS_FILE},         \
        {"help", no_argument, NULL, 'h'},                                    \
        {"version", no_argument, NULL, 'V'}

/* The global options seen so far, before and after the command. */
struct globals {
    int verbose;
    bool quiet;
};

/* Applies global option c; 1 if c is one, 0 if not, -1 on a bad value. */
static int global_option(int c, struct pe_cli *cli, struct globals *g,
                         struct pe_error *err)
{
    switch (c) {
    case 'c':
        cli->config_path = optarg;
        return 1;
    case 'n':
        cli->opts.dry_run = true;
        return 1;
    case 'v':
        g->verbose++;
        return 1;
    case 'q':
        g->quiet = true;
        return 1;
    case OPT_LOG_FORMAT:
        if (strcmp(optarg, "text") == 0)
            cli->log_format = PE_LOG_TEXT;
        else if (strcmp(optarg, "json") == 0)
            cli->log_format = PE_LOG_JSON;
        else {
            pe_error_set(err, PE_ERR_USAGE, false,
                         "--log-format: \"%s\" is not text or json", optarg);
            return -1;
        }
        return 1;
    case OPT_LOG_FILE:
        cli->log_file = optarg;
        return 1;
    case OPT_METRICS_FILE:
        cli->opts.metrics_file = optarg;
        return 1;
    case 'h':
        cli->help = true;
        return 1;
    case 'V':
        cli->version = true;
        return 1;
    default:
        return 0;
    }
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

/* Every command option, with the global ones (they may come after the
 * command too). */
static const struct option command_options[] = {
    GLOBAL_LONG_OPTIONS,
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
    {"json", no_argument, NULL, 'J'},
    {"offline", no_argument, NULL, 'O'},
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
    {'J', "json", 1u << PE_CMD_STATUS},
    {'O', "offline", 1u << PE_CMD_CHECK},
};

static const struct {
    const char *name;
    enum pe_command cmd;
} command_names[] = {
    {"run", PE_CMD_RUN},       {"check", PE_CMD_CHECK},
    {"status", PE_CMD_STATUS}, {"replay", PE_CMD_REPLAY},
    {"init", PE_CMD_INIT},
};

/* PE_ERR_USAGE when option c is one command `name` does not take. */
static enum pe_status check_applies(int c, const struct pe_cli *cli,
                                    const char *name, struct pe_error *err)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (allowed[i].opt == c &&
            !(allowed[i].commands & (1u << cli->command)))
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: option --%s does not apply (try "
                                "pinemit %s --help)",
                                name, allowed[i].name, name);
    return PE_OK;
}

/* --rate: rows per second, above 0 and at most 1e9. */
static enum pe_status parse_rate(const char *s, double *out,
                                 struct pe_error *err)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(*out > 0) || *out > 1e9)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "--rate: \"%s\" is not a positive number of "
                            "rows per second",
                            s);
    return PE_OK;
}

/* A number option into a long field. */
static enum pe_status parse_long(const char *opt, const char *s, long long min,
                                 long long max, long *out,
                                 struct pe_error *err)
{
    long long v;

    if (parse_number(opt, s, min, max, &v, err) != PE_OK)
        return PE_ERR_USAGE;
    *out = (long)v;
    return PE_OK;
}

/* Applies command option c (optarg its value) to cli->opts. */
static enum pe_status command_option(int c, struct pe_cli *cli,
                                     struct pe_error *err)
{
    struct pe_app_opts *o = &cli->opts;

    switch (c) {
    case 's':
        cli->stream_list = pe_xrealloc(cli->stream_list,
                                       (o->n_streams + 1) * sizeof(char *));
        cli->stream_list[o->n_streams++] = optarg;
        o->streams = cli->stream_list;
        return PE_OK;
    case 'l':
        return parse_number("--limit", optarg, 1, LLONG_MAX, &o->limit, err);
    case 'w':
        return parse_long("--wait-lock", optarg, 0, 86400, &o->wait_lock_s,
                          err);
    case 'd':
        o->dead_letters = optarg;
        return PE_OK;
    case 'f':
        o->follow = true;
        return PE_OK;
    case 'i':
        return parse_long("--interval", optarg, 1, 86400, &o->interval_s, err);
    case 'r':
        return parse_rate(optarg, &o->rate, err);
    case 'j':
        return parse_long("--jobs", optarg, 1, PE_MAX_JOBS, &o->jobs, err);
    case 'F':
        o->from_key = optarg;
        return PE_OK;
    case 'T':
        o->to_key = optarg;
        return PE_OK;
    case 't':
        o->topic = optarg;
        return PE_OK;
    case 'J':
        o->json = true;
        return PE_OK;
    case 'O':
        o->offline = true;
        return PE_OK;
    default:
        return pe_error_set(err, PE_ERR_USAGE, false, "unknown option");
    }
}

/* The options that do not go together, once all are read. */
static enum pe_status check_combinations(struct pe_cli *cli,
                                         struct pe_error *err)
{
    struct pe_app_opts *o = &cli->opts;
    bool replay = cli->command == PE_CMD_REPLAY;

    if (replay && o->dead_letters != NULL &&
        (o->from_key || o->to_key || o->topic || o->n_streams ||
         o->rate > 0 || o->jobs > 0))
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "replay: --dead-letters cannot be combined with "
                            "--stream, --from, --to, --topic, --rate or "
                            "--jobs");
    /* One topic for every stream would mix them all in it. */
    if (replay && o->topic != NULL && o->n_streams == 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "replay: --topic needs --stream: name the "
                            "stream(s) to send to %s",
                            o->topic);
    if (o->interval_s != 0 && !o->follow)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "run: --interval goes with --follow");
    if (o->follow && o->limit != 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "run: --limit cannot be combined with --follow");
    if (o->follow && o->interval_s == 0)
        o->interval_s = 5;
    return PE_OK;
}

/* The command and its options; global options may come among them
 * (getopt permutes argv, so they may also follow the operands). */
static enum pe_status parse_command(int argc, char **argv, struct pe_cli *cli,
                                    struct globals *g, struct pe_error *err)
{
    const char *name = argv[0];
    int c, gl;

    for (size_t i = 0; i < sizeof(command_names) / sizeof(command_names[0]);
         i++)
        if (strcmp(name, command_names[i].name) == 0)
            cli->command = command_names[i].cmd;
    if (cli->command == PE_CMD_NONE)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "unknown command \"%s\" (try --help)", name);
    optind = 0; /* 0: glibc's full reset of getopt's state */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:nvqhV", command_options, NULL)) !=
           -1) {
        if ((gl = global_option(c, cli, g, err)) < 0)
            return PE_ERR_USAGE;
        if (gl > 0)
            continue;
        if (c == ':')
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: option %s needs a value", name,
                                argv[optind - 1]);
        if (c == '?')
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "%s: unknown option %s (try pinemit %s "
                                "--help)",
                                name, argv[optind - 1], name);
        if (check_applies(c, cli, name, err) != PE_OK ||
            command_option(c, cli, err) != PE_OK)
            return PE_ERR_USAGE;
    }
    if (check_combinations(cli, err) != PE_OK)
        return PE_ERR_USAGE;
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
        GLOBAL_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("PINEMIT_CONFIG");
    struct globals g = {0, false};
    enum pe_status st;
    int c;

    memset(cli, 0, sizeof(*cli));
    cli->config_path = env && *env ? env : PE_DEFAULT_CONFIG;
    cli->log_level = PE_LOG_WARN;
    optind = 0; /* 0: glibc's full reset of getopt's state */
    opterr = 0;
    /* '+': stop at the command; what follows is parsed with its options. */
    while ((c = getopt_long(argc, argv, "+:c:nvqhV", opts, NULL)) != -1) {
        if (c == ':')
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "option %s needs a value", argv[optind - 1]);
        if (c == '?')
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "unknown option %s (try --help)",
                                argv[optind - 1]);
        if (global_option(c, cli, &g, err) < 0)
            return PE_ERR_USAGE;
        if (cli->help || cli->version)
            return PE_OK;
    }
    if (optind >= argc)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "no command given: run, replay, init, check or "
                            "status (try --help)");
    st = parse_command(argc - optind, argv + optind, cli, &g, err);
    /* COMMAND --help or --version: whatever else is on the line. */
    if (cli->help || cli->version)
        return cli->command != PE_CMD_NONE ? PE_OK : st;
    if (st != PE_OK)
        return st;
    if (g.quiet && g.verbose > 0)
        return pe_error_set(err, PE_ERR_USAGE, false,
                            "-q and -v cannot be used together");
    cli->opts.quiet = g.quiet;
    if (g.quiet)
        cli->log_level = PE_LOG_ERROR;
    else if (g.verbose == 1)
        cli->log_level = PE_LOG_INFO;
    else if (g.verbose > 1)
        cli->log_level = PE_LOG_DEBUG;
    return PE_OK;
}

void pe_cli_cleanup(struct pe_cli *cli)
{
    if (cli == NULL)
        return;
    free(cli->stream_list);
    cli->stream_list = NULL;
    cli->opts.streams = NULL;
    cli->opts.n_streams = 0;
}
