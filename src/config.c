/* SPDX-License-Identifier: MIT
 * config.c - libconfig file -> validated struct pe_config: opens and
 * screens the file, runs one reader per section in a fixed order (the
 * first problem found is the one reported), and frees what they filled.
 * The sink and streams sections have files of their own (config_sink.c,
 * config_streams.c), the typed getters too (config_read.c).  Nothing here
 * connects anywhere or reads a secret. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "config_read.h"
#include "config_sink.h"
#include "config_streams.h"
#include "conninfo.h"

bool pe_config_password_exposed(const struct pe_config *c, bool url)
{
    const char *text = url ? c->sink.invoke_url : c->source.conninfo;
    struct stat sb;
    char *masked;
    bool has;

    if (stat(c->path, &sb) != 0 || (sb.st_mode & S_IROTH) == 0)
        return false;
    masked = url ? pe_url_mask(text) : pe_conninfo_mask(text);
    has = strcmp(masked, text) != 0;
    free(masked);
    return has;
}

bool pe_topic_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

/* state.store: "file" (default) or "database", with its table. */
static enum pe_status read_state_store(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    int store;
    enum pe_status st;

    if ((st = pe_cfg_choice(r, g, "state.", "store", "file", "file", "database",
                            &store)) != PE_OK)
        return st;
    c->state.database = store == 1;
    if ((st = pe_cfg_string(r, g, "state.", "table", false,
                            "pinemit.checkpoints", &c->state.table)) != PE_OK ||
        (st = pe_cfg_long(r, g, "state.", "max_shards_per_instance", 0, 0,
                          100000, &c->state.max_shards_per_instance)) != PE_OK ||
        (st = pe_cfg_long(r, g, "state.", "save_interval_ms", 100, 0, 60000,
                          &c->state.save_interval_ms)) != PE_OK)
        return st;
    if (strchr(c->state.table, '.') == NULL ||
        strchr(strchr(c->state.table, '.') + 1, '.') != NULL)
        return pe_cfg_fail(r, config_setting_get_member(g, "table"),
                           "state.table", "\"%s\" is not schema.table",
                           c->state.table);
    return PE_OK;
}

/* A conninfo libpq cannot parse is a config error, not a failed
 * connection; libpq's reason may quote the password, so it is masked. */
static enum pe_status check_conninfo(struct pe_cfg_reader *r,
                                     const config_setting_t *g,
                                     const char *conninfo)
{
    char *why = pe_conninfo_problem(conninfo);
    enum pe_status st;

    if (why == NULL)
        return PE_OK;
    st = pe_cfg_fail(r, config_setting_get_member(g, "conninfo"),
                     "source.conninfo", "%s", why);
    free(why);
    return st;
}

/* source: where rows come from. */
static enum pe_status read_source(struct pe_cfg_reader *r,
                                  const config_setting_t *g,
                                  struct pe_config *c)
{
    static const char *const src[] = {"conninfo", "fetch_rows",
                                      "connect_timeout_s", "max_pending_age_s",
                                      NULL};
    enum pe_status st;

    if ((st = pe_cfg_members(r, g, "source.", src)) != PE_OK ||
        (st = pe_cfg_string(r, g, "source.", "conninfo", true, NULL,
                            &c->source.conninfo)) != PE_OK ||
        (st = check_conninfo(r, g, c->source.conninfo)) != PE_OK ||
        (st = pe_cfg_long(r, g, "source.", "fetch_rows", 1000, 1, 1000000,
                          &c->source.fetch_rows)) != PE_OK ||
        (st = pe_cfg_long(r, g, "source.", "connect_timeout_s", 10, 1, 3600,
                          &c->source.connect_timeout_s)) != PE_OK ||
        (st = pe_cfg_long(r, g, "source.", "max_pending_age_s", 3600, 1,
                          31536000, &c->source.max_pending_age_s)) != PE_OK)
        return st;
    return PE_OK;
}

/* metrics (optional): the Prometheus textfile. */
static enum pe_status read_metrics(struct pe_cfg_reader *r,
                                   const config_setting_t *root,
                                   struct pe_config *c)
{
    static const char *const met[] = {"file", NULL};
    const config_setting_t *g;
    enum pe_status st;

    if ((st = pe_cfg_section(r, root, "", "metrics", met, &g)) != PE_OK)
        return st;
    return pe_cfg_string(r, g, "metrics.", "file", false, NULL,
                         &c->metrics.file);
}

/* run (optional): limits of one run. */
static enum pe_status read_run(struct pe_cfg_reader *r,
                               const config_setting_t *root,
                               struct pe_config *c)
{
    static const char *const run[] = {"max_runtime_s", "jobs", NULL};
    const config_setting_t *g;
    enum pe_status st;

    if ((st = pe_cfg_section(r, root, "", "run", run, &g)) != PE_OK ||
        (st = pe_cfg_long(r, g, "run.", "max_runtime_s", 0, 0, 31536000,
                          &c->run.max_runtime_s)) != PE_OK)
        return st;
    return pe_cfg_long(r, g, "run.", "jobs", 0, 0, PE_MAX_JOBS, &c->run.jobs);
}

/* batch (optional, g may be NULL): how many records and bytes per request.
 * Needs c->sink.kind: Kinesis caps both. */
static enum pe_status read_batch(struct pe_cfg_reader *r,
                                 const config_setting_t *g, struct pe_config *c)
{
    static const char *const bat[] = {"max_records", "max_bytes", NULL};
    enum pe_status st;

    if (g != NULL && (st = pe_cfg_members(r, g, "batch.", bat)) != PE_OK)
        return st;
    /* 10,000,000: API Gateway refuses bodies over 10 MB. */
    if ((st = pe_cfg_long(r, g, "batch.", "max_records", 500, 1, 100000,
                          &c->batch.max_records)) != PE_OK ||
        (st = pe_cfg_long(r, g, "batch.", "max_bytes", 1048576, 1024, 10000000,
                          &c->batch.max_bytes)) != PE_OK)
        return st;
    /* PutRecords takes at most 500 records and 5 MiB per request. */
    if (c->sink.kind == PE_SINK_KINESIS) {
        if (c->batch.max_records > 500)
            c->batch.max_records = 500;
        if (c->batch.max_bytes > 5242880)
            c->batch.max_bytes = 5242880;
    }
    return PE_OK;
}

/* state (optional, g may be NULL): the checkpoint store. */
static enum pe_status read_state(struct pe_cfg_reader *r,
                                 const config_setting_t *g, struct pe_config *c)
{
    static const char *const sta[] = {"dir", "store", "table",
                                      "max_shards_per_instance",
                                      "save_interval_ms", NULL};
    enum pe_status st;

    if (g != NULL && (st = pe_cfg_members(r, g, "state.", sta)) != PE_OK)
        return st;
    if ((st = pe_cfg_string(r, g, "state.", "dir", false, "/var/lib/pinemit",
                            &c->state.dir)) != PE_OK)
        return st;
    return read_state_store(r, g, c);
}

/* dead_letter (optional): where rejected records go.  Needs state.dir. */
static enum pe_status read_dead_letter(struct pe_cfg_reader *r,
                                       const config_setting_t *root,
                                       struct pe_config *c)
{
    static const char *const dlq[] = {"path", "max", NULL};
    const config_setting_t *g;
    enum pe_status st;

    if ((st = pe_cfg_section(r, root, "", "dead_letter", dlq, &g)) != PE_OK ||
        (st = pe_cfg_string(r, g, "dead_letter.", "path", false, NULL,
                            &c->dead_letter.path)) != PE_OK ||
        (st = pe_cfg_long(r, g, "dead_letter.", "max", -1, -1, 1000000000,
                          &c->dead_letter.max)) != PE_OK)
        return st;
    if (c->dead_letter.path == NULL)
        c->dead_letter.path =
            pe_xasprintf("%s/dead-letters.jsonl", c->state.dir);
    return PE_OK;
}

/* The sections in the order their checks have always run: the first
 * problem in the file is the one reported. */
static enum pe_status read_all(struct pe_cfg_reader *r,
                               const config_setting_t *root,
                               struct pe_config *c)
{
    static const char *const top[] = {
        "user_id", "source",      "sink",    "batch",   "state",
        "run",     "dead_letter", "metrics", "streams", NULL};
    const config_setting_t *g_src, *g_snk, *g_bat, *g_sta;
    enum pe_status st;

    if ((st = pe_cfg_members(r, root, "", top)) != PE_OK ||
        (st = pe_cfg_string(r, root, "", "user_id", false, NULL,
                            &c->user_id)) != PE_OK ||
        (st = pe_cfg_group(r, root, "source", &g_src)) != PE_OK ||
        (st = pe_cfg_group(r, root, "sink", &g_snk)) != PE_OK ||
        (st = pe_cfg_group(r, root, "batch", &g_bat)) != PE_OK ||
        (st = pe_cfg_group(r, root, "state", &g_sta)) != PE_OK)
        return st;
    if (g_src == NULL)
        return pe_cfg_fail(r, NULL, "source", "required group is missing");
    if (g_snk == NULL)
        return pe_cfg_fail(r, NULL, "sink", "required group is missing");
    if ((st = read_source(r, g_src, c)) != PE_OK ||
        (st = pe_config_read_sink(r, g_snk, c)) != PE_OK ||
        (st = read_metrics(r, root, c)) != PE_OK ||
        (st = pe_config_check_backoff(r, g_snk, c)) != PE_OK ||
        (st = read_run(r, root, c)) != PE_OK ||
        (st = read_batch(r, g_bat, c)) != PE_OK ||
        (st = read_state(r, g_sta, c)) != PE_OK ||
        (st = read_dead_letter(r, root, c)) != PE_OK)
        return st;
    if (c->user_id != NULL && !pe_topic_valid(c->user_id))
        return pe_cfg_fail(r, config_setting_get_member(root, "user_id"),
                           "user_id",
                           "\"%s\" cannot start a Kafka topic name "
                           "([a-zA-Z0-9._-])",
                           c->user_id);
    return pe_config_read_streams(r, root, c);
}

/* Opens path for libconfig (*out), after refusing what makes libconfig
 * 1.5 exit the process or hang. */
static enum pe_status open_screened(const char *path, FILE **out,
                                    struct pe_error *err)
{
    char line[4096];
    int lineno = 0;
    struct stat sb;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return pe_error_set(err, errno == ENOENT ? PE_ERR_CONFIG : PE_ERR_IO,
                            false, "%s: cannot open config file: %s", path,
                            strerror(errno));
    /* libconfig 1.5's scanner exits the process on a directory ("input in
     * flex scanner failed"): refuse one before it gets there. */
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return pe_error_set(err, PE_ERR_CONFIG, false, "%s: is a directory",
                            path);
    }
    /* libconfig 1.5 exits the process when @include names a directory, and
     * hangs on a FIFO: refuse the directive before it gets there. */
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = line + strspn(line, " \t");

        lineno++;
        if (strncmp(p, "@include", 8) == 0) {
            fclose(f);
            return pe_error_set(err, PE_ERR_CONFIG, false,
                                "%s:%d: @include is not supported; keep "
                                "the configuration in one file",
                                path, lineno);
        }
    }
    rewind(f);
    *out = f;
    return PE_OK;
}

enum pe_status pe_config_load(const char *path, struct pe_config *out,
                              struct pe_error *err)
{
    struct pe_cfg_reader r = {path, err};
    struct pe_config c;
    config_t cfg;
    enum pe_status st;
    FILE *f = NULL;

    memset(&c, 0, sizeof(c));
    if ((st = open_screened(path, &f, err)) != PE_OK)
        return st;
    config_init(&cfg);
    if (!config_read(&cfg, f)) {
        st = pe_error_set(err, PE_ERR_CONFIG, false, "%s:%d: %s",
                          config_error_file(&cfg) ? config_error_file(&cfg)
                                                  : path,
                          config_error_line(&cfg), config_error_text(&cfg));
        goto out;
    }
    c.path = pe_xstrdup(path);
    st = read_all(&r, config_root_setting(&cfg), &c);
out:
    fclose(f);
    config_destroy(&cfg);
    if (st == PE_OK)
        *out = c;
    else
        pe_config_cleanup(&c);
    return st;
}

void pe_config_cleanup(struct pe_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_streams; i++)
        pe_config_stream_cleanup(&c->streams[i]);
    free(c->streams);
    free(c->path);
    free(c->user_id);
    free(c->source.conninfo);
    free(c->sink.invoke_url);
    free(c->sink.region);
    free(c->sink.ca_file);
    free(c->sink.client_cert);
    free(c->sink.client_key);
    free(c->sink.api_key_env);
    free(c->sink.basic_auth_env);
    free(c->sink.sigv4_region);
    free(c->sink.sigv4_service);
    for (size_t i = 0; i < c->sink.n_headers; i++)
        free(c->sink.headers[i]);
    free(c->sink.headers);
    free(c->metrics.file);
    free(c->state.dir);
    free(c->state.table);
    free(c->dead_letter.path);
    memset(c, 0, sizeof(*c));
}

const struct pe_stream_config *pe_config_stream(const struct pe_config *c,
                                                const char *name)
{
    for (size_t i = 0; i < c->n_streams; i++)
        if (strcmp(c->streams[i].name, name) == 0)
            return &c->streams[i];
    return NULL;
}
