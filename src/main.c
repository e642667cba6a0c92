/* SPDX-License-Identifier: MIT
 * main.c - parse, load, dispatch; the one place that turns an error into
 * a message on stderr and an exit code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "util.h"

#include "app.h"
#include "cli.h"
#include "config.h"
#include "jsonarena.h"
#include "log.h"
#include "sink.h"

/* The config's readers may see passwords in it: say so (not what). */
static void warn_exposed(const struct pe_config *cfg)
{
    if (pe_config_password_exposed(cfg, false))
        pe_log(PE_LOG_WARN, "%s holds a password in source.conninfo and "
                            "others can read it; chmod o-r it, or use "
                            "~/.pgpass or PGPASSWORD",
               cfg->path);
    if (pe_config_password_exposed(cfg, true))
        pe_log(PE_LOG_WARN, "%s holds a password in sink.invoke_url and "
                            "others can read it; chmod o-r it, or use "
                            "sink.basic_auth_env",
               cfg->path);
}

/* Runs the command with its options (the config loaded). */
static enum pe_status dispatch(enum pe_command cmd,
                               const struct pe_app_opts *o,
                               struct pe_error *err)
{
    enum pe_status st;

    /* Process-wide set-up, before any thread starts. */
    if ((st = pe_sink_global_init(err)) != PE_OK)
        return st;
    pe_json_arena_install();
    switch (cmd) {
    case PE_CMD_RUN:
        st = pe_app_run(o, err);
        break;
    case PE_CMD_CHECK:
        st = pe_app_check(o, err);
        break;
    case PE_CMD_STATUS:
        st = pe_app_status(o, err);
        break;
    case PE_CMD_REPLAY:
        st = pe_app_replay(o, err);
        break;
    case PE_CMD_INIT:
        st = pe_app_init(o, err);
        break;
    default:
        break;
    }
    pe_sink_global_cleanup();
    return st;
}

/* Opens the log file and loads the config, then runs the command. */
static enum pe_status run_command(struct pe_cli *cli, struct pe_config *cfg,
                                  struct pe_error *err)
{
    enum pe_status st;

    if (cli->log_file != NULL && pe_log_open(cli->log_file) != 0)
        return pe_error_set(err, PE_ERR_USAGE, false, "--log-file %s: %s",
                            cli->log_file, strerror(errno));
    if ((st = pe_config_load(cli->config_path, cfg, err)) != PE_OK)
        return st;
    warn_exposed(cfg);
    cli->opts.cfg = cfg;
    return dispatch(cli->command, &cli->opts, err);
}

/* A full disk or a closed pipe must not pass for success.  An earlier
 * failed flush (a full buffer) leaves only the error flag. */
static enum pe_status flush_stdout(enum pe_status st, struct pe_error *err)
{
    errno = 0;
    if (fflush(stdout) != 0 && st == PE_OK)
        return pe_error_set(err, PE_ERR_IO, false, "standard output: %s",
                            strerror(errno));
    if (ferror(stdout) && st == PE_OK)
        return pe_error_set(err, PE_ERR_IO, false,
                            "standard output: write error");
    return st;
}

/* The last word on stderr.  -q keeps the dead-letter line (records did
 * not arrive: cron must mail it) and drops the lock line (the previous
 * run is still going). */
static void report(enum pe_status st, const struct pe_error *err, bool quiet)
{
    if (st == PE_DEAD_LETTERED)
        pe_log_error(PE_LOG_WARN, true, err);
    else if (st != PE_OK && st != PE_ERR_INTERRUPTED && err->msg[0] != '\0' &&
             !(st == PE_ERR_LOCKED && quiet))
        pe_log_error(PE_LOG_ERROR, false, err);
}

/* glibc gives each new thread its own malloc arena, up to 8 per core, and
 * each keeps what it once held: with one sender thread per request in
 * flight, about 1 MiB of pinemit's peak (docs/performance.md has the
 * figures).  One arena serves their few allocations per batch well
 * enough; MALLOC_ARENA_MAX or glibc.malloc.arena_max in GLIBC_TUNABLES
 * still decide when set. */
static void fewer_arenas(void)
{
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    const char *tunables = getenv("GLIBC_TUNABLES");

    if (getenv("MALLOC_ARENA_MAX") == NULL &&
        (tunables == NULL || strstr(tunables, "malloc.arena_max") == NULL))
        mallopt(M_ARENA_MAX, 1);
#endif
}

int main(int argc, char **argv)
{
    struct pe_cli cli;
    struct pe_config cfg = {0};
    struct pe_error err;
    enum pe_status st;
    int code;

    fewer_arenas();
    pe_error_clear(&err);
    st = pe_cli_parse(argc, argv, &cli, &err);
    pe_log_setup(cli.log_level, cli.log_format);
    if (st == PE_OK && cli.help)
        fputs(pe_cli_command_usage(cli.command), stdout);
    else if (st == PE_OK && cli.version)
        printf("pinemit %s\n", PINEMIT_VERSION);
    else if (st == PE_OK)
        st = run_command(&cli, &cfg, &err);
    st = flush_stdout(st, &err);
    code = pe_status_exit_code(st);
    report(st, &err, cli.opts.quiet);
    pe_config_cleanup(&cfg);
    pe_cli_cleanup(&cli);
    return code;
}
