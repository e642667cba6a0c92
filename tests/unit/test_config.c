/* SPDX-License-Identifier: MIT
 * test_config.c - pe_config_load on temporary files, topic names, masking,
 * ${VAR} expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "conninfo.h"
#include "source_opts.h"
#include "util.h"

/* Writes text to a new temporary file; returns its path (caller frees
 * and unlinks). */
static char *write_conf(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = pe_xasprintf("%s/pinemit-conf-XXXXXX",
                              dir != NULL && *dir != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(pe_write_all(fd, text, strlen(text)), 0);
    assert_int_equal(close(fd), 0);
    return path;
}

static void drop_conf(char *path)
{
    unlink(path);
    free(path);
}

/* Loads text; asserts PE_ERR_CONFIG with the message "FILE:LINE: rest"
 * (line 0: "FILE: rest") and that *out was not touched. */
static void expect_error(const char *text, int line, const char *rest)
{
    char *path = write_conf(text);
    char *want = line > 0 ? pe_xasprintf("%s:%d: %s", path, line, rest)
                          : pe_xasprintf("%s: %s", path, rest);
    struct pe_config out, before;
    struct pe_error err;

    memset(&out, 0x5a, sizeof(out));
    memcpy(&before, &out, sizeof(out));
    pe_error_clear(&err);
    assert_int_equal(pe_config_load(path, &out, &err), PE_ERR_CONFIG);
    assert_int_equal(err.status, PE_ERR_CONFIG);
    assert_string_equal(err.msg, want);
    assert_memory_equal(&out, &before, sizeof(out));
    free(want);
    drop_conf(path);
}

/* A valid base: line 1 source, line 2 sink, line 3 streams. */
#define SRC "source = { conninfo = \"dbname=x\"; };\n"
#define SNK "sink = { invoke_url = \"https://gw.example/prod\"; };\n"
#define STR "streams = ( { name = \"a\"; } );\n"

static void full_config_every_field(void **state)
{
    static const char text[] =
        "# every setting\n"
        "user_id = \"u42\";\n"
        "source = {\n"
        "  conninfo = \"host=db dbname=app password=secret\";\n"
        "  fetch_rows = 100;\n"
        "  connect_timeout_s = 5;\n"
        "};\n"
        "sink = {\n"
        "  invoke_url = \"https://abc.execute-api.eu-west-1.amazonaws.com"
        "/prod//\";\n"
        "  timeout_ms = 20000;\n"
        "  connect_timeout_ms = 3000;\n"
        "  ca_file = \"/etc/ssl/ca.pem\";\n"
        "};\n"
        "batch = { max_records = 50; max_bytes = 200000; };\n"
        "state = { dir = \"/tmp/pinemit-state\"; };\n"
        "streams = (\n"
        "  { name = \"orders\"; table = \"public.orders\"; key = "
        "\"order_id\";\n"
        "    topic = \"t.orders\"; },\n"
        "  { name = \"users-2\"; }\n"
        ");\n";
    char *path = write_conf(text);
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_string_equal(c.path, path);
    assert_string_equal(c.user_id, "u42");
    assert_string_equal(c.source.conninfo,
                        "host=db dbname=app password=secret");
    assert_int_equal(c.source.fetch_rows, 100);
    assert_int_equal(c.source.connect_timeout_s, 5);
    /* Trailing slashes removed. */
    assert_string_equal(c.sink.invoke_url,
                        "https://abc.execute-api.eu-west-1.amazonaws.com/prod");
    assert_int_equal(c.sink.timeout_ms, 20000);
    assert_int_equal(c.sink.connect_timeout_ms, 3000);
    assert_string_equal(c.sink.ca_file, "/etc/ssl/ca.pem");
    assert_int_equal(c.batch.max_records, 50);
    assert_int_equal(c.batch.max_bytes, 200000);
    assert_string_equal(c.state.dir, "/tmp/pinemit-state");
    assert_int_equal(c.n_streams, 2);
    assert_string_equal(c.streams[0].name, "orders");
    assert_string_equal(c.streams[0].table, "public.orders");
    assert_string_equal(c.streams[0].key, "order_id");
    assert_string_equal(c.streams[0].topic, "t.orders");
    /* Defaults of a stream: table = name, key "id", topic user_id.name. */
    assert_string_equal(c.streams[1].name, "users-2");
    assert_string_equal(c.streams[1].table, "users-2");
    assert_string_equal(c.streams[1].key, "id");
    assert_string_equal(c.streams[1].topic, "u42.users-2");
    assert_ptr_equal(pe_config_stream(&c, "users-2"), &c.streams[1]);
    assert_ptr_equal(pe_config_stream(&c, "orders"), &c.streams[0]);
    assert_null(pe_config_stream(&c, "order"));
    pe_config_cleanup(&c);
    assert_null(c.streams);
    assert_int_equal(c.n_streams, 0);
    pe_config_cleanup(&c); /* twice is fine */
    drop_conf(path);
}

static void minimal_config_defaults(void **state)
{
    char *path = write_conf(SRC SNK STR);
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_null(c.user_id);
    assert_int_equal(c.source.fetch_rows, 1000);
    assert_int_equal(c.run.jobs, 0); /* automatic */
    assert_int_equal(c.source.connect_timeout_s, 10);
    assert_string_equal(c.sink.invoke_url, "https://gw.example/prod");
    assert_int_equal(c.sink.timeout_ms, 35000);
    assert_int_equal(c.sink.connect_timeout_ms, 10000);
    assert_null(c.sink.ca_file);
    assert_int_equal(c.batch.max_records, 500);
    assert_int_equal(c.batch.max_bytes, 1048576);
    assert_string_equal(c.state.dir, "/var/lib/pinemit");
    assert_int_equal(c.n_streams, 1);
    assert_string_equal(c.streams[0].table, "a");
    assert_string_equal(c.streams[0].key, "id");
    /* No user_id: the topic is the stream name. */
    assert_string_equal(c.streams[0].topic, "a");
    pe_config_cleanup(&c);
    drop_conf(path);
}

/* The source options come from the config, borrowed, in one place. */
static void source_opts_from_config(void **state)
{
    char *path = write_conf(SRC SNK STR);
    struct pe_source_opts so;
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    so = pe_source_opts_from_config(&c);
    assert_ptr_equal(so.conninfo, c.source.conninfo);
    assert_int_equal(so.connect_timeout_s, 10);
    pe_config_cleanup(&c);
    drop_conf(path);
}

static void bounds_are_inclusive(void **state)
{
    char *path = write_conf(SRC SNK STR "batch = { max_records = 100000; "
                                        "max_bytes = 10000000; };\n");
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_int_equal(c.batch.max_records, 100000);
    assert_int_equal(c.batch.max_bytes, 10000000);
    pe_config_cleanup(&c);
    drop_conf(path);
}

static void http_url_allowed_for_local_proxy(void **state)
{
    char *path =
        write_conf(SRC "sink = { invoke_url = \"http://127.0.0.1:8082/\"; "
                       "};\n" STR);
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_string_equal(c.sink.invoke_url, "http://127.0.0.1:8082");
    pe_config_cleanup(&c);
    drop_conf(path);
}

static void syntax_error(void **state)
{
    (void)state;
    expect_error(SRC "sink = {\n  timeout_ms = ;\n};\n" STR, 3, "syntax error");
}

static void unknown_top_level_key(void **state)
{
    (void)state;
    expect_error(SRC SNK STR "colour = \"red\";\n", 4,
                 "colour: unknown setting");
}

static void unknown_key_in_groups(void **state)
{
    (void)state;
    expect_error(SRC "sink = {\n"
                     "  invoke_url = \"https://x\";\n"
                     "  retries = 3;\n"
                     "};\n" STR,
                 4, "sink.retries: unknown setting");
    expect_error(SRC SNK STR "state = { dir = \"/x\"; path = \"/y\"; };\n", 4,
                 "state.path: unknown setting");
    expect_error(SRC SNK
                 "streams = (\n  { name = \"a\";\n    colour = 1; }\n);\n",
                 5, "streams.[0].colour: unknown setting");
}

static void wrong_types(void **state)
{
    (void)state;
    expect_error(SRC "sink = {\n"
                     "  invoke_url = \"https://x\";\n"
                     "  timeout_ms = \"35000\";\n"
                     "};\n" STR,
                 4, "sink.timeout_ms: expected an integer");
    expect_error(SRC "sink = {\n  invoke_url = 5;\n};\n" STR, 3,
                 "sink.invoke_url: expected a string in double quotes");
    expect_error(SRC "sink = 5;\n" STR, 2, "sink: expected a group { ... }");
}

/* unique_key: false unless the stream says so; true or false only. */
static void unique_key_setting(void **state)
{
    char *path = write_conf(SRC SNK
                            "streams = ( { name = \"a\"; },\n"
                            "  { name = \"v\"; unique_key = true; } );\n");
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_false(c.streams[0].unique_key);
    assert_true(c.streams[1].unique_key);
    assert_false(c.streams[1].ordered_writer);
    pe_config_cleanup(&c);
    drop_conf(path);
    expect_error(SRC SNK "streams = ( { name = \"a\";\n unique_key = 1; } );\n",
                 4, "unique_key: expected true or false");
}

/* key: a column name, or an array of distinct names (a composite key). */
static void composite_keys(void **state)
{
    char *path = write_conf(SRC SNK
                            "streams = ( { name = \"a\"; },\n"
                            "  { name = \"b\"; key = \"k\"; },\n"
                            "  { name = \"c\"; key = [\"at\", \"id\"]; } );\n");
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_int_equal(c.streams[0].n_keys, 1);
    assert_string_equal(c.streams[0].keys[0], "id");
    assert_string_equal(c.streams[0].key, "id");
    assert_int_equal(c.streams[1].n_keys, 1);
    assert_string_equal(c.streams[1].key, "k");
    assert_int_equal(c.streams[2].n_keys, 2);
    assert_string_equal(c.streams[2].keys[0], "at");
    assert_string_equal(c.streams[2].keys[1], "id");
    assert_string_equal(c.streams[2].key, "at, id");
    pe_config_cleanup(&c);
    drop_conf(path);
    expect_error(SRC SNK "streams = ( { name = \"a\";\n key = []; } );\n", 4,
                 "streams.a.key: expected a column name or an array of 1 "
                 "to 8 column names");
    expect_error(SRC SNK "streams = ( { name = \"a\";\n key = [\"x\", \"x\"];"
                 " } );\n",
                 4, "streams.a.key: column \"x\" appears twice");
    expect_error(SRC SNK "streams = ( { name = \"a\";\n key = [\"x\", \"\"];"
                 " } );\n",
                 4, "streams.a.key: element 2 is not a column name");
    expect_error(SRC SNK "streams = ( { name = \"a\";\n key = 5; } );\n", 4,
                 "streams.a.key: expected a column name or an array of 1 "
                 "to 8 column names");
}

/* columns: names or { column; as; } groups, output names unique; where. */
static void columns_and_where(void **state)
{
    char *path = write_conf(SRC SNK
                            "streams = ( { name = \"a\";\n"
                            "  columns = ( \"x\", { column = \"y\"; as = \"z\"; } );\n"
                            "  where = \"x > 1\"; } );\n");
    struct pe_config c;
    struct pe_error err;
    char *want;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_int_equal(c.streams[0].n_columns, 2);
    assert_string_equal(c.streams[0].columns[0].column, "x");
    assert_string_equal(c.streams[0].columns[0].as, "x");
    assert_string_equal(c.streams[0].columns[1].column, "y");
    assert_string_equal(c.streams[0].columns[1].as, "z");
    want = pe_xasprintf("%s:4: streams.a.columns", path);
    assert_string_equal(c.streams[0].columns[1].where, want);
    free(want);
    assert_string_equal(c.streams[0].where, "x > 1");
    want = pe_xasprintf("%s:5: streams.a.where", path);
    assert_string_equal(c.streams[0].where_at, want);
    free(want);
    pe_config_cleanup(&c);
    drop_conf(path);
    expect_error(SRC SNK "streams = ( { name = \"a\";\n columns = ( ); } );\n",
                 4, "streams.a.columns: at least one column is needed "
                    "(leave columns out to send them all)");
    expect_error(SRC SNK "streams = ( { name = \"a\"; columns = ( \"x\",\n"
                 " { column = \"y\"; as = \"x\"; } ); } );\n",
                 4, "streams.a.columns: \"x\" would be the name of two "
                    "members of the record");
    expect_error(SRC SNK "streams = ( { name = \"a\"; columns = ( \"x\",\n"
                 " { column = \"y\"; alias = \"x\"; } ); } );\n",
                 4, "streams.a.columns.alias: unknown setting");
    expect_error(SRC SNK "streams = ( { name = \"a\";\n columns = ( 5 ); } );\n",
                 4, "streams.a.columns: expected a column name or a group "
                    "{ column = \"...\"; as = \"...\"; }");
}

static void out_of_range(void **state)
{
    (void)state;
    expect_error(SRC SNK STR "run = {\n  jobs = 17;\n};\n", 5,
                 "run.jobs: 17 is out of range (0 to 16)");
    expect_error(SRC SNK STR "batch = {\n  max_records = 0;\n};\n", 5,
                 "batch.max_records: 0 is out of range (1 to 100000)");
    expect_error(SRC SNK STR "batch = {\n  max_bytes = 20000000;\n};\n", 5,
                 "batch.max_bytes: 20000000 is out of range "
                 "(1024 to 10000000)");
    /* A 64-bit literal must not wrap into range. */
    expect_error(SRC SNK STR "batch = { max_bytes = 4294968320L; };\n", 4,
                 "batch.max_bytes: 4294968320 is out of range "
                 "(1024 to 10000000)");
    expect_error(SRC SNK STR "batch = { max_records = -1; };\n", 4,
                 "batch.max_records: -1 is out of range (1 to 100000)");
}

static void duplicate_stream_names(void **state)
{
    (void)state;
    expect_error(SRC SNK "streams = (\n"
                         "  { name = \"a\"; },\n"
                         "  { name = \"b\"; },\n"
                         "  {\n"
                         "    name = \"a\";\n"
                         "  }\n"
                         ");\n",
                 7, "streams.name: duplicate stream name \"a\"");
}

static void invalid_topic(void **state)
{
    char *path = write_conf(SRC SNK "streams = ( { name = \"a\";\n"
                                    "  topic = \"bad topic!\"; } );\n");
    char *head = pe_xasprintf("%s:4: ", path);
    struct pe_config c;
    struct pe_error err;

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_ERR_CONFIG);
    /* Points at the topic line and names the setting and the value. */
    assert_memory_equal(err.msg, head, strlen(head));
    assert_non_null(strstr(err.msg, "topic: "));
    assert_non_null(strstr(err.msg, "\"bad topic!\""));
    free(head);
    drop_conf(path);
}

static void invalid_user_id_and_stream_name(void **state)
{
    (void)state;
    expect_error("user_id = \"my user\";\n" SRC SNK STR, 1,
                 "user_id: \"my user\" cannot start a Kafka topic name "
                 "([a-zA-Z0-9._-])");
    expect_error(SRC SNK "streams = ( { name = \"a b\"; } );\n", 3,
                 "streams.name: \"a b\" is not a valid stream name (letters, "
                 "digits, '_' and '-', at most 64)");
}

static void missing_required_settings(void **state)
{
    (void)state;
    expect_error("source = {\n  fetch_rows = 10;\n};\n" SNK STR, 1,
                 "source.conninfo: required setting is missing");
    expect_error(SRC "sink = {\n  timeout_ms = 1000;\n};\n" STR, 2,
                 "sink.invoke_url: required setting is missing");
    expect_error(SRC SNK, 0, "streams: required setting is missing");
    expect_error(SNK STR, 0, "source: required group is missing");
    expect_error(SRC STR, 0, "sink: required group is missing");
    expect_error(SRC SNK "streams = (\n);\n", 3,
                 "streams: at least one stream is needed");
    expect_error("source = { conninfo = \"\"; };\n" SNK STR, 1,
                 "source.conninfo: must not be empty");
}

static void invoke_url_scheme_and_shape(void **state)
{
    static const char why[] =
        "sink.invoke_url: must start with https:// (or http:// for a local "
        "endpoint)";

    (void)state;
    expect_error(SRC "sink = {\n  invoke_url = \"ftp://gw/prod\";\n};\n" STR, 3,
                 why);
    expect_error(SRC "sink = { invoke_url = \"gw.example/prod\"; };\n" STR, 2,
                 why);
    expect_error(SRC "sink = { invoke_url = \"HTTPS:/gw\"; };\n" STR, 2, why);
    expect_error(SRC "sink = { invoke_url = \"https://gw/prod?x=1\"; };\n" STR,
                 2,
                 "sink.invoke_url: must not contain spaces, control "
                 "characters, a query or a fragment");
    expect_error(SRC "sink = { invoke_url = \"https://gw/pr\x07od\"; };\n" STR,
                 2,
                 "sink.invoke_url: must not contain spaces, control "
                 "characters, a query or a fragment");
}

/* Regression (src/config.c, read_all): the https:// prefix is checked before the
 * trailing slashes are stripped, so invoke_url = "https://" is accepted
 * and stored as "https:" - no host, and no longer an https:// URL.
 * Expected: PE_ERR_CONFIG naming sink.invoke_url. */
static void regression_invoke_url_without_host(void **state)
{
    char *path;
    struct pe_config c;
    struct pe_error err;
    enum pe_status st;

    (void)state;
    path = write_conf(SRC "sink = { invoke_url = \"https://\"; };\n" STR);
    pe_error_clear(&err);
    st = pe_config_load(path, &c, &err);
    if (st == PE_OK) {
        char got[64];

        snprintf(got, sizeof(got), "%s", c.sink.invoke_url);
        pe_config_cleanup(&c);
        drop_conf(path);
        fail_msg("invoke_url \"https://\" accepted, stored as \"%s\"", got);
    }
    assert_int_equal(st, PE_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "sink.invoke_url"));
    drop_conf(path);
}

static void missing_file(void **state)
{
    struct pe_config c;
    struct pe_error err;
    static const char path[] = "/nonexistent-dir/pinemit-missing.conf";

    (void)state;
    pe_error_clear(&err);
    assert_int_equal(pe_config_load(path, &c, &err), PE_ERR_CONFIG);
    assert_memory_equal(err.msg, path, strlen(path));
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void topic_names(void **state)
{
    char name[260];

    (void)state;
    memset(name, 'a', sizeof(name));
    name[249] = '\0';
    assert_true(pe_topic_valid(name));
    name[249] = 'a';
    name[250] = '\0';
    assert_false(pe_topic_valid(name));
    assert_false(pe_topic_valid("."));
    assert_false(pe_topic_valid(".."));
    assert_true(pe_topic_valid("..."));
    assert_true(pe_topic_valid("a.b_c-D9"));
    assert_true(pe_topic_valid("_"));
    assert_false(pe_topic_valid(""));
    assert_false(pe_topic_valid("a b"));
    assert_false(pe_topic_valid("a/b"));
    assert_false(pe_topic_valid("a:b"));
    assert_false(pe_topic_valid("t\xc3\xbc"));
}

/* ---- pe_conninfo_mask ---- */

static void expect_mask(const char *in, const char *want)
{
    char *got = pe_conninfo_mask(in);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void mask_key_value(void **state)
{
    (void)state;
    expect_mask("host=x password=secret dbname=y",
                "host=x password=******** dbname=y");
    expect_mask("password='se cr\\'et' host=x", "password=******** host=x");
    expect_mask("password=secret", "password=********");
    expect_mask("host=x\tpassword=s3 port=5432",
                "host=x\tpassword=******** port=5432");
}

static void mask_uri(void **state)
{
    (void)state;
    expect_mask("postgresql://user:secret@host/db",
                "postgresql://user:********@host/db");
    expect_mask("postgres://u:p%40ss@h:5432/db?sslmode=require",
                "postgres://u:********@h:5432/db?sslmode=require");
    expect_mask("postgresql://host/db?password=secret&sslmode=require",
                "postgresql://host/db?password=********&sslmode=require");
    expect_mask("postgresql://host/db?sslmode=require&password=secret",
                "postgresql://host/db?sslmode=require&password=********");
    /* No password: unchanged, user and host kept. */
    expect_mask("postgresql://user@host/db", "postgresql://user@host/db");
    expect_mask("postgresql:///db?host=/tmp", "postgresql:///db?host=/tmp");
}

static void mask_leaves_other_text(void **state)
{
    (void)state;
    expect_mask("host=x", "host=x");
    expect_mask("", "");
    /* "mypassword" and "x_password" are other keys, not "password". */
    expect_mask("mypassword=x", "mypassword=x");
    expect_mask("x_password=x host=y", "x_password=x host=y");
    expect_mask("mypassword=x password=y", "mypassword=x password=********");
    expect_mask("passfile=/p/.pgpass", "passfile=/p/.pgpass");
}

static void mask_hides_secret(void **state)
{
    static const char *const cases[] = {
        "host=x password=secret dbname=y",
        "password='se cr\\'et' host=x",
        "postgresql://user:secret@host/db",
        "postgresql://host/db?password=secret&sslmode=require",
        "dbname=y password=secret",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = pe_conninfo_mask(cases[i]);

        if (strstr(m, "secret") != NULL || strstr(m, "cr") != NULL)
            fail_msg("\"%s\" masked as \"%s\"", cases[i], m);
        assert_non_null(strstr(m, "********"));
        free(m);
    }
}

/* Regression (src/config.c, pe_conninfo_mask): libpq allows spaces around '='
 * ("keyword = value"), but the mask only looks for "password=", so
 * "password = secret" and "password= secret" pass through in clear text
 * wherever the masked conninfo is printed. */
static void regression_mask_spaces_around_equals(void **state)
{
    static const char *const cases[] = {
        "host=x password = secret dbname=y",
        "host=x password= secret dbname=y",
        "host=x password =secret dbname=y",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = pe_conninfo_mask(cases[i]);
        int leaked = strstr(m, "secret") != NULL;

        if (leaked) {
            print_error("\"%s\" masked as \"%s\"\n", cases[i], m);
            free(m);
            fail_msg("password left in clear text");
        }
        free(m);
    }
}

/* Issue #12, item 2: a conninfo libpq cannot parse is a config error
 * naming file, line and key, with the password libpq quotes masked. */
static void conninfo_libpq_refuses(void **state)
{
    (void)state;
    expect_error("source = {\n  conninfo = \"postgresql://pinemit:Tr0ub%dor&3"
                 "@db.internal:5432/pinterest\";\n};\n" SNK STR,
                 2,
                 "source.conninfo: invalid percent-encoded token: "
                 "\"********\"");
    expect_error("source = { conninfo = \"host=x bogus=1\"; };\n" SNK STR, 1,
                 "source.conninfo: invalid connection option \"bogus\"");
}

/* Issue #12, item 13: libconfig wraps integers beyond int silently
 * (4294967396 reads as 100); the value is reported as written. */
static void integer_wrap_reported_as_written(void **state)
{
    (void)state;
    expect_error(SRC SNK STR "batch = { max_records = 4294967396; };\n", 4,
                 "batch.max_records: 4294967396 is out of range (1 to "
                 "100000)");
    expect_error(SRC SNK STR
                 "batch = { max_records = 99999999999999999999; };\n", 4,
                 "batch.max_records: 99999999999999999999 is out of range "
                 "(1 to 100000)");
    expect_error(SRC SNK STR "batch = { max_records = -4294967296; };\n", 4,
                 "batch.max_records: -4294967296 is out of range (1 to "
                 "100000)");
    expect_error(SRC SNK STR "batch = { max_records = 0x100000064; };\n", 4,
                 "batch.max_records: 0x100000064 is out of range (1 to "
                 "100000)");
    /* Another setting on the same line is found by its own name. */
    expect_error(SRC SNK STR
                 "batch = { max_records = 100; max_bytes = 4294968320; };\n",
                 4,
                 "batch.max_bytes: 4294968320 is out of range (1024 to "
                 "10000000)");
    /* The key, the '=' and the number on lines of their own (review). */
    expect_error(SRC SNK STR "batch = { max_records =\n 4294967396; };\n", 4,
                 "batch.max_records: 4294967396 is out of range (1 to "
                 "100000)");
    expect_error(SRC SNK STR "batch = { max_records\n = 4294967396; };\n", 4,
                 "batch.max_records: 4294967396 is out of range (1 to "
                 "100000)");
}

static void integer_in_range_as_written(void **state)
{
    struct pe_config c;
    struct pe_error err;
    char *path = write_conf(SRC SNK STR
                            "batch = { max_records = 0x64; max_bytes = 2048; };"
                            " # max_records = 4294967396\n");

    (void)state;
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_int_equal(c.batch.max_records, 100);
    assert_int_equal(c.batch.max_bytes, 2048);
    pe_config_cleanup(&c);
    drop_conf(path);
}

/* Issue #12, item 11: libconfig's scanner exits the process on a
 * directory; it is refused before. */
static void directory_refused(void **state)
{
    struct pe_config c;
    struct pe_error err;
    const char *dir = getenv("TMPDIR");
    char *want;

    (void)state;
    dir = dir != NULL && *dir != '\0' ? dir : "/tmp";
    want = pe_xasprintf("%s: is a directory", dir);
    assert_int_equal(pe_config_load(dir, &c, &err), PE_ERR_CONFIG);
    assert_string_equal(err.msg, want);
    free(want);
}

/* Issue #16: ${VAR}, ${VAR:-default} and $$ in string settings. */
static void env_expansion(void **state)
{
    char *path;
    struct pe_config c;
    struct pe_error err;

    (void)state;
    setenv("PE_T_DB", "orders", 1);
    setenv("PE_T_HOST", "gw.example", 1);
    setenv("PE_T_EMPTY", "", 1);
    /* A variable's value is taken as it is: never expanded again. */
    setenv("PE_T_RAW", "${PE_T_DB}$$x", 1);
    unsetenv("PE_T_UNSET");
    path = write_conf(
        "source = { conninfo = \"dbname=${PE_T_DB} user=${PE_T_UNSET:-app}"
        " password=p$$w$5d application_name=${PE_T_EMPTY:-pin}\"; };\n"
        "sink = { invoke_url = \"https://${PE_T_HOST}/prod\";"
        " api_key_env = \"${PE_T_UNSET:-MY_KEY}\"; };\n"
        "state = { store = \"${PE_T_UNSET:-database}\"; };\n"
        "streams = ( { name = \"a\"; table = \"${PE_T_RAW}\"; } );\n");
    assert_int_equal(pe_config_load(path, &c, &err), PE_OK);
    assert_string_equal(c.source.conninfo, "dbname=orders user=app "
                                           "password=p$w$5d "
                                           "application_name=pin");
    assert_string_equal(c.sink.invoke_url, "https://gw.example/prod");
    assert_string_equal(c.sink.api_key_env, "MY_KEY");
    assert_true(c.state.database);
    assert_string_equal(c.streams[0].table, "${PE_T_DB}$$x");
    pe_config_cleanup(&c);
    drop_conf(path);
    unsetenv("PE_T_DB");
    unsetenv("PE_T_HOST");
    unsetenv("PE_T_EMPTY");
    unsetenv("PE_T_RAW");
}

/* A missing variable without a default, a bad reference, an empty
 * result: config errors at FILE:LINE naming the key (and the variable,
 * never a value). */
static void env_expansion_errors(void **state)
{
    (void)state;
    unsetenv("PE_T_UNSET");
    setenv("PE_T_EMPTY", "", 1);
    expect_error(SRC "sink = { invoke_url = \"https://${PE_T_UNSET}/p\"; "
                     "};\n" STR,
                 2,
                 "sink.invoke_url: environment variable PE_T_UNSET is not "
                 "set (give a default with ${PE_T_UNSET:-default})");
    expect_error(SRC SNK "streams = ( { name = \"a\";\n topic = "
                         "\"t.${PE_T_UNSET}\"; } );\n",
                 4,
                 "streams.a.topic: environment variable PE_T_UNSET is not "
                 "set (give a default with ${PE_T_UNSET:-default})");
    expect_error("source = { conninfo = \"password=s3cret${1X}\"; };\n" SNK
                     STR,
                 1,
                 "source.conninfo: bad variable reference at character 16 "
                 "(write ${NAME}, ${NAME:-default}, or $$ for a $)");
    expect_error("source = { conninfo = \"dbname=${PE_T_DB\"; };\n" SNK STR,
                 1,
                 "source.conninfo: bad variable reference at character 8 "
                 "(write ${NAME}, ${NAME:-default}, or $$ for a $)");
    expect_error(SRC SNK "streams = ( { name = \"${PE_T_EMPTY}\"; } );\n", 3,
                 "streams.[0].name: must not be empty");
    unsetenv("PE_T_EMPTY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_config_every_field),
        cmocka_unit_test(minimal_config_defaults),
        cmocka_unit_test(source_opts_from_config),
        cmocka_unit_test(bounds_are_inclusive),
        cmocka_unit_test(http_url_allowed_for_local_proxy),
        cmocka_unit_test(syntax_error),
        cmocka_unit_test(unknown_top_level_key),
        cmocka_unit_test(unknown_key_in_groups),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(unique_key_setting),
        cmocka_unit_test(composite_keys),
        cmocka_unit_test(columns_and_where),
        cmocka_unit_test(out_of_range),
        cmocka_unit_test(duplicate_stream_names),
        cmocka_unit_test(invalid_topic),
        cmocka_unit_test(invalid_user_id_and_stream_name),
        cmocka_unit_test(missing_required_settings),
        cmocka_unit_test(invoke_url_scheme_and_shape),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(topic_names),
        cmocka_unit_test(mask_key_value),
        cmocka_unit_test(mask_uri),
        cmocka_unit_test(mask_leaves_other_text),
        cmocka_unit_test(mask_hides_secret),
        cmocka_unit_test(regression_invoke_url_without_host),
        cmocka_unit_test(regression_mask_spaces_around_equals),
        cmocka_unit_test(conninfo_libpq_refuses),
        cmocka_unit_test(integer_wrap_reported_as_written),
        cmocka_unit_test(integer_in_range_as_written),
        cmocka_unit_test(directory_refused),
        cmocka_unit_test(env_expansion),
        cmocka_unit_test(env_expansion_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
