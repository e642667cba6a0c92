/* SPDX-License-Identifier: MIT
 * test_cli.c - pe_cli_parse: global options, commands and their options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "util.h"

/* A writable argv, as main() gets it.  glibc's getopt keeps a pointer
 * into the previous argv between calls, so the strings live in a static
 * arena that is never freed (valgrind would see getopt read freed memory
 * otherwise), and no test stops getopt inside a cluster such as "-hv". */
static char arena[1 << 14];
static size_t arena_used;

struct args {
    int argc;
    char *argv[16];
};

static char *arena_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    assert_true(arena_used + n <= sizeof(arena));
    p = arena + arena_used;
    memcpy(p, s, n);
    arena_used += n;
    return p;
}

static void args_vmake(struct args *a, va_list ap)
{
    const char *s;

    memset(a, 0, sizeof(*a));
    a->argv[a->argc++] = arena_dup("pinemit");
    while ((s = va_arg(ap, const char *)) != NULL) {
        assert_true(a->argc < 15);
        a->argv[a->argc++] = arena_dup(s);
    }
}

/* args_make(&a, "run", "--limit", "5", NULL) */
static void args_make(struct args *a, ...)
{
    va_list ap;

    va_start(ap, a);
    args_vmake(a, ap);
    va_end(ap);
}

/* Parses and returns the status; cli is cleaned by the caller. */
static enum pe_status parse(struct args *a, struct pe_cli *cli,
                            struct pe_error *err)
{
    pe_error_clear(err);
    return pe_cli_parse(a->argc, a->argv, cli, err);
}

/* expect_usage(needle, args..., NULL): PE_ERR_USAGE with a message that
 * contains needle. */
static void expect_usage(const char *needle, ...)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;
    va_list ap;

    va_start(ap, needle);
    args_vmake(&a, ap);
    va_end(ap);
    assert_int_equal(parse(&a, &cli, &err), PE_ERR_USAGE);
    assert_int_equal(err.status, PE_ERR_USAGE);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message [%s] lacks [%s]", err.msg, needle);
    pe_cli_cleanup(&cli);
}

static void run_with_streams_and_limit(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    unsetenv("PINEMIT_CONFIG");
    args_make(&a, "run", "--stream", "a", "--stream", "b", "--limit", "5",
              NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.command, PE_CMD_RUN);
    assert_int_equal(cli.opts.n_streams, 2);
    assert_string_equal(cli.opts.streams[0], "a");
    assert_string_equal(cli.opts.streams[1], "b");
    assert_int_equal(cli.opts.limit, 5);
    assert_false(cli.opts.dry_run);
    assert_false(cli.help);
    assert_false(cli.version);
    assert_int_equal(cli.log_level, PE_LOG_WARN);
    assert_int_equal(cli.log_format, PE_LOG_TEXT);
    assert_string_equal(cli.config_path, PE_DEFAULT_CONFIG);
    pe_cli_cleanup(&cli);
    assert_null(cli.opts.streams);
    assert_int_equal(cli.opts.n_streams, 0);
    pe_cli_cleanup(&cli);
}

static void run_without_options(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "run", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.command, PE_CMD_RUN);
    assert_int_equal(cli.opts.n_streams, 0);
    assert_int_equal(cli.opts.limit, 0);
    pe_cli_cleanup(&cli);
}

static void global_short_options(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "-c", "f", "-n", "-v", "run", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "f");
    assert_true(cli.opts.dry_run);
    assert_int_equal(cli.log_level, PE_LOG_INFO);
    assert_int_equal(cli.command, PE_CMD_RUN);
    pe_cli_cleanup(&cli);

    args_make(&a, "-vv", "status", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.log_level, PE_LOG_DEBUG);
    assert_int_equal(cli.command, PE_CMD_STATUS);
    pe_cli_cleanup(&cli);

    args_make(&a, "-q", "check", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.log_level, PE_LOG_ERROR);
    assert_int_equal(cli.command, PE_CMD_CHECK);
    pe_cli_cleanup(&cli);
}

static void global_long_options(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "--config=/a/b.conf", "--dry-run", "--verbose", "--verbose",
              "--log-format", "json", "run", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "/a/b.conf");
    assert_true(cli.opts.dry_run);
    assert_int_equal(cli.log_level, PE_LOG_DEBUG);
    assert_int_equal(cli.log_format, PE_LOG_JSON);
    pe_cli_cleanup(&cli);

    args_make(&a, "--log-format=text", "--quiet", "--config", "x", "run", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.log_format, PE_LOG_TEXT);
    assert_int_equal(cli.log_level, PE_LOG_ERROR);
    assert_string_equal(cli.config_path, "x");
    pe_cli_cleanup(&cli);
}

static void quiet_with_verbose_is_usage_error(void **state)
{
    (void)state;
    expect_usage("-q", "-q", "-v", "run", NULL);
    expect_usage("-q", "--verbose", "--quiet", "run", NULL);
}

static void bad_log_format(void **state)
{
    (void)state;
    expect_usage("xml", "--log-format", "xml", "run", NULL);
    expect_usage("JSON", "--log-format=JSON", "run", NULL);
    expect_usage("--log-format", "--log-format", NULL);
}

static void commands(void **state)
{
    (void)state;
    expect_usage("frobnicate", "frobnicate", NULL);
    expect_usage("Run", "Run", NULL);
    expect_usage("no command", NULL);
    expect_usage("no command", "-v", NULL);
    expect_usage("extra", "run", "extra", NULL);
}

static void unknown_and_incomplete_options(void **state)
{
    (void)state;
    expect_usage("--bogus", "--bogus", "run", NULL);
    expect_usage("-x", "-x", "run", NULL);
    expect_usage("-c", "-c", NULL);
    expect_usage("--bogus", "run", "--bogus", NULL);
    expect_usage("run --help", "run", "--bogus", NULL); /* its own help */
    expect_usage("--limit", "run", "--limit", NULL);
    expect_usage("--stream", "status", "--stream", NULL);
}

static void limit_must_be_positive_integer(void **state)
{
    (void)state;
    expect_usage("--limit", "run", "--limit", "0", NULL);
    expect_usage("abc", "run", "--limit", "abc", NULL);
    expect_usage("--limit", "run", "--limit", "-3", NULL);
    expect_usage("--limit", "run", "--limit", "5x", NULL);
    expect_usage("--limit", "run", "--limit", "", NULL);
    expect_usage("--limit", "run", "--limit", "99999999999999999999", NULL);
}

static void limit_long_form_and_large(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "run", "--limit=9223372036854775807", "--stream=s", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.opts.limit == 9223372036854775807LL);
    assert_int_equal(cli.opts.n_streams, 1);
    assert_string_equal(cli.opts.streams[0], "s");
    pe_cli_cleanup(&cli);
}

static void options_per_command(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    expect_usage("check", "check", "--limit", "5", NULL);
    expect_usage("check", "check", "--stream", "a", NULL);
    expect_usage("status", "status", "--limit", "5", NULL);

    args_make(&a, "status", "--stream", "a", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.command, PE_CMD_STATUS);
    assert_int_equal(cli.opts.n_streams, 1);
    assert_string_equal(cli.opts.streams[0], "a");
    pe_cli_cleanup(&cli);
}

/* Regression (src/cli.c, parse_command, the `unknown:` label): an option that
 * exists but not for this command, taking a value, is reported by its
 * value: `pinemit check --limit 5` says "check: unknown option 5" because
 * argv[optind - 1] is the value once getopt has consumed it.
 * Expected: the message names --limit (and --stream for `check --stream a`). */
static void regression_wrong_command_option_named_by_value(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "check", "--limit", "5", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_ERR_USAGE);
    pe_cli_cleanup(&cli);
    if (strstr(err.msg, "--limit") == NULL)
        fail_msg("message [%s] does not name --limit", err.msg);
}

static void help_and_version(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "--help", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.help);
    assert_false(cli.version);
    assert_int_equal(cli.command, PE_CMD_NONE);
    pe_cli_cleanup(&cli);

    /* --help wins over what follows, even nonsense. */
    args_make(&a, "-h", "nonsense", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.help);
    pe_cli_cleanup(&cli);

    args_make(&a, "run", "--help", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.help);
    assert_int_equal(cli.command, PE_CMD_RUN);
    pe_cli_cleanup(&cli);

    args_make(&a, "--version", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.version);
    assert_false(cli.help);
    pe_cli_cleanup(&cli);

    args_make(&a, "-V", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_true(cli.version);
    pe_cli_cleanup(&cli);
}

static void config_path_from_environment(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    assert_int_equal(setenv("PINEMIT_CONFIG", "/srv/p.conf", 1), 0);
    args_make(&a, "check", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "/srv/p.conf");
    pe_cli_cleanup(&cli);

    /* -c beats the environment. */
    args_make(&a, "-c", "/x.conf", "check", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "/x.conf");
    pe_cli_cleanup(&cli);

    /* Empty: as if unset. */
    assert_int_equal(setenv("PINEMIT_CONFIG", "", 1), 0);
    args_make(&a, "check", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "/etc/pinemit/pinemit.conf");
    pe_cli_cleanup(&cli);

    assert_int_equal(unsetenv("PINEMIT_CONFIG"), 0);
    args_make(&a, "check", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.config_path, "/etc/pinemit/pinemit.conf");
    assert_string_equal(PE_DEFAULT_CONFIG, "/etc/pinemit/pinemit.conf");
    pe_cli_cleanup(&cli);
}

static void repeated_parses_are_independent(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "-n", "run", "--stream", "x", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    pe_cli_cleanup(&cli);
    /* Nothing carries over from the previous call. */
    args_make(&a, "status", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_false(cli.opts.dry_run);
    assert_int_equal(cli.opts.n_streams, 0);
    assert_int_equal(cli.command, PE_CMD_STATUS);
    pe_cli_cleanup(&cli);
}

static void usage_text(void **state)
{
    const char *u = pe_cli_usage();

    (void)state;
    assert_non_null(strstr(u, "Usage: pinemit"));
    assert_non_null(strstr(u, "run"));
    assert_non_null(strstr(u, "check"));
    assert_non_null(strstr(u, "status"));
    assert_non_null(strstr(u, "--limit"));
    assert_non_null(strstr(u, "--log-format"));
    assert_non_null(strstr(u, PE_DEFAULT_CONFIG));
    assert_non_null(strstr(u, "75"));
}

/* --jobs: 1 to 16, for run and replay; not with a dead-letter file. */
static void jobs_option(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "run", "--jobs", "3", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.opts.jobs, 3);
    pe_cli_cleanup(&cli);
    expect_usage("--jobs", "run", "--jobs", "0", NULL);
    expect_usage("--jobs", "run", "--jobs", "17", NULL);
    expect_usage("--jobs", "status", "--jobs", "2", NULL);
    expect_usage("--rate or --jobs", "replay", "--dead-letters", "x.jsonl",
                 "--jobs", "2", NULL);
    expect_usage("--rate or --jobs", "replay", "--dead-letters", "x.jsonl",
                 "--rate", "5", NULL);
}

/* replay --topic sends every named stream there: it needs --stream, or
 * every stream of the config would land in one topic. */
static void replay_topic_needs_stream(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    expect_usage("--topic needs --stream", "replay", "--topic", "scratch",
                 NULL);
    expect_usage("--topic needs --stream", "replay", "--from", "1",
                 "--topic", "scratch", NULL);
    args_make(&a, "replay", "--stream", "pin", "--topic", "scratch", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_string_equal(cli.opts.topic, "scratch");
    pe_cli_cleanup(&cli);
}

/* Issue #12 item 16: `pinemit run -c FILE` said "run: unknown option -c";
 * global options are accepted after the command too, anywhere in it. */
static void global_options_after_the_command(void **state)
{
    struct args a;
    struct pe_cli cli;
    struct pe_error err;

    (void)state;
    args_make(&a, "run", "-c", "f.conf", "--stream", "a", "-q",
              "--log-format", "json", "--metrics-file", "m.prom", "-n", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.command, PE_CMD_RUN);
    assert_string_equal(cli.config_path, "f.conf");
    assert_int_equal(cli.opts.n_streams, 1);
    assert_string_equal(cli.opts.streams[0], "a");
    assert_true(cli.opts.quiet);
    assert_true(cli.opts.dry_run);
    assert_int_equal(cli.log_level, PE_LOG_ERROR);
    assert_int_equal(cli.log_format, PE_LOG_JSON);
    assert_string_equal(cli.opts.metrics_file, "m.prom");
    pe_cli_cleanup(&cli);

    /* Before and after: -v counts across both. */
    args_make(&a, "-v", "status", "--config=x", "-v", NULL);
    assert_int_equal(parse(&a, &cli, &err), PE_OK);
    assert_int_equal(cli.command, PE_CMD_STATUS);
    assert_string_equal(cli.config_path, "x");
    assert_int_equal(cli.log_level, PE_LOG_DEBUG);
    pe_cli_cleanup(&cli);

    expect_usage("-q and -v", "-q", "run", "-v", NULL);
    expect_usage("--log-format", "check", "--log-format", "xml", NULL);
    expect_usage("-c", "check", "-c", NULL);
    expect_usage("unexpected argument", "check", "-q", "extra", NULL);
}

/* Issue #12 items 16 and 21: `pinemit CMD --help` is that command's help;
 * `pinemit --help` the global one, naming every command and Kinesis. */
static void help_per_command(void **state)
{
    static const struct {
        const char *cmd;
        const char *synopsis;
        const char *option; /* one of its options, or NULL */
    } cases[] = {
        {"run", "pinemit [OPTIONS] run [--stream NAME]", "--wait-lock"},
        {"replay", "pinemit [OPTIONS] replay --dead-letters FILE", "--from"},
        {"init", "pinemit [OPTIONS] init\n", NULL},
        {"check", "pinemit [OPTIONS] check [--offline]\n", "--offline"},
        {"status", "pinemit [OPTIONS] status [--stream NAME]", "--stream"},
    };
    const char *u = pe_cli_usage();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct args a;
        struct pe_cli cli;
        struct pe_error err;
        const char *h;

        args_make(&a, "-q", cases[i].cmd, "--help", NULL);
        assert_int_equal(parse(&a, &cli, &err), PE_OK);
        assert_true(cli.help);
        h = pe_cli_command_usage(cli.command);
        assert_ptr_not_equal(h, u);
        assert_non_null(strstr(h, cases[i].synopsis));
        assert_non_null(strstr(h, "--help"));
        assert_null(strstr(h, "--log-format")); /* not the global text */
        if (cases[i].option != NULL)
            assert_non_null(strstr(h, cases[i].option));
        pe_cli_cleanup(&cli);
    }
    assert_ptr_equal(pe_cli_command_usage(PE_CMD_NONE), u);
    assert_non_null(strstr(u, "\n  init "));
    assert_non_null(strstr(u, "Kinesis"));
    expect_usage("run, replay, init, check or status", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jobs_option),
        cmocka_unit_test(replay_topic_needs_stream),
        cmocka_unit_test(run_with_streams_and_limit),
        cmocka_unit_test(run_without_options),
        cmocka_unit_test(global_short_options),
        cmocka_unit_test(global_long_options),
        cmocka_unit_test(quiet_with_verbose_is_usage_error),
        cmocka_unit_test(bad_log_format),
        cmocka_unit_test(commands),
        cmocka_unit_test(unknown_and_incomplete_options),
        cmocka_unit_test(limit_must_be_positive_integer),
        cmocka_unit_test(limit_long_form_and_large),
        cmocka_unit_test(options_per_command),
        cmocka_unit_test(help_and_version),
        cmocka_unit_test(config_path_from_environment),
        cmocka_unit_test(repeated_parses_are_independent),
        cmocka_unit_test(usage_text),
        cmocka_unit_test(regression_wrong_command_option_named_by_value),
        cmocka_unit_test(global_options_after_the_command),
        cmocka_unit_test(help_per_command),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
