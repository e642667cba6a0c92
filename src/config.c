/* SPDX-License-Identifier: MIT
 * config.c - libconfig file -> validated struct pe_config. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "conninfo.h"

/* Reading context: where we are, for messages. */
struct reader {
    const char *path;
    struct pe_error *err;
};

static enum pe_status fail_at(struct reader *r, const config_setting_t *s,
                              const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum pe_status fail_at(struct reader *r, const config_setting_t *s,
                              const char *key, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    int line = s ? config_setting_source_line(s) : 0;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line > 0)
        return pe_error_set(r->err, PE_ERR_CONFIG, false, "%s:%d: %s: %s",
                            r->path, line, key, what);
    return pe_error_set(r->err, PE_ERR_CONFIG, false, "%s: %s: %s", r->path,
                        key, what);
}

/* Rejects members of `group` not named in `allowed` (NULL-terminated). */
static enum pe_status check_members(struct reader *r,
                                    const config_setting_t *group,
                                    const char *prefix,
                                    const char *const *allowed)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        bool ok = false;
        char full[256];

        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, name) == 0;
        if (!ok) {
            snprintf(full, sizeof(full), "%s%s", prefix, name);
            return fail_at(r, m, full, "unknown setting");
        }
    }
    return PE_OK;
}

/* Optional group: NULL when absent; error when present but not a group. */
static enum pe_status get_group(struct reader *r, const config_setting_t *parent,
                                const char *name, const config_setting_t **out)
{
    const config_setting_t *g = config_setting_get_member(parent, name);

    *out = NULL;
    if (g == NULL)
        return PE_OK;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return fail_at(r, g, name, "expected a group { ... }");
    *out = g;
    return PE_OK;
}

static enum pe_status get_string(struct reader *r, const config_setting_t *grp,
                                 const char *prefix, const char *name,
                                 bool required, const char *def, char **out)
{
    const config_setting_t *s =
        grp ? config_setting_get_member(grp, name) : NULL;
    char full[256];

    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (s == NULL) {
        if (required)
            return fail_at(r, grp, full, "required setting is missing");
        *out = def ? pe_xstrdup(def) : NULL;
        return PE_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(r, s, full, "expected a string in double quotes");
    if (config_setting_get_string(s)[0] == '\0')
        return fail_at(r, s, full, "must not be empty");
    *out = pe_xstrdup(config_setting_get_string(s));
    return PE_OK;
}

/* libconfig 1.5 reads an integer with atoi() (a hex one with strtoul())
 * into an int, so a value beyond int wraps without a word: 4294967396
 * reads as 100, 99999999999999999999 as -1.  The literal as written on
 * the setting's line tells: true, with that literal in lit, when `name`
 * is set there and no literal for it has the value v. */
static bool wrapped(const char *path, int line, const char *name, long long v,
                    char *lit, size_t n)
{
    FILE *f = line > 0 ? fopen(path, "r") : NULL;
    char *buf = NULL;
    size_t cap = 0, nl = strlen(name);
    int at = 0;
    bool found = false, same = false;

    if (f == NULL)
        return false;
    while (at < line && getline(&buf, &cap, f) >= 0)
        at++;
    for (const char *p = at == line ? strstr(buf, name) : NULL; p != NULL;
         p = strstr(p + 1, name)) {
        const char *q = p + nl, *d;
        char *end;
        long long x;

        if (p > buf && (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                        p[-1] == '-' || p[-1] == '*'))
            continue;
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':')
            continue;
        q += 1 + strspn(q + 1, " \t");
        d = q + (*q == '-' || *q == '+');
        if (!isdigit((unsigned char)*d))
            continue;
        errno = 0;
        if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
            x = (long long)strtoull(q, &end, 16);
        else
            x = strtoll(q, &end, 10);
        end += strspn(end, "Ll");
        if (errno == 0 && x == v) {
            same = true;
        } else if (!found) {
            found = true;
            snprintf(lit, n, "%.*s", (int)(end - q), q);
        }
    }
    free(buf);
    fclose(f);
    return found && !same;
}

static enum pe_status get_long(struct reader *r, const config_setting_t *grp,
                               const char *prefix, const char *name, long def,
                               long min, long max, long *out)
{
    const config_setting_t *s =
        grp ? config_setting_get_member(grp, name) : NULL;
    char full[256], lit[64];
    long long v;

    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (s == NULL) {
        *out = def;
        return PE_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64)
        return fail_at(r, s, full, "expected an integer");
    v = config_setting_get_int64(s);
    if (wrapped(r->path, config_setting_source_line(s), name, v, lit,
                sizeof(lit)))
        return fail_at(r, s, full, "%s is out of range (%ld to %ld)", lit,
                       min, max);
    if (v < min || v > max)
        return fail_at(r, s, full, "%lld is out of range (%ld to %ld)", v,
                       min, max);
    *out = (long)v;
    return PE_OK;
}

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
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
            *p != '-')
            return false;
    return true;
}

static bool stream_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool env_name_valid(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* "Name: value": a header token, a colon, no line breaks. */
static bool header_valid(const char *h)
{
    const char *colon = strchr(h, ':');

    if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL)
        return false;
    for (const char *p = h; p < colon; p++)
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return false;
    return true;
}

/* TLS and authentication settings of the sink.  Secrets themselves are
 * never in the file: only the names of environment variables. */
static enum pe_status read_sink_access(struct reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    const config_setting_t *v;
    const char *envs[2] = {"api_key_env", "basic_auth_env"};
    char **slots[2] = {&c->sink.api_key_env, &c->sink.basic_auth_env};
    enum pe_status st;

    if ((st = get_string(r, g, "sink.", "client_cert", false, NULL,
                         &c->sink.client_cert)) != PE_OK ||
        (st = get_string(r, g, "sink.", "client_key", false, NULL,
                         &c->sink.client_key)) != PE_OK)
        return st;
    if ((c->sink.client_cert == NULL) != (c->sink.client_key == NULL))
        return fail_at(r, g, "sink.client_cert",
                       "client_cert and client_key go together");
    v = config_setting_get_member(g, "insecure");
    if (v != NULL && config_setting_type(v) != CONFIG_TYPE_BOOL)
        return fail_at(r, v, "sink.insecure", "expected true or false");
    c->sink.insecure = v != NULL && config_setting_get_bool(v);
    for (size_t i = 0; i < 2; i++) {
        char full[64];

        snprintf(full, sizeof(full), "sink.%s", envs[i]);
        if ((st = get_string(r, g, "sink.", envs[i], false, NULL, slots[i])) !=
            PE_OK)
            return st;
        if (*slots[i] != NULL && !env_name_valid(*slots[i]))
            return fail_at(r, config_setting_get_member(g, envs[i]), full,
                           "\"%s\" is not an environment variable name (the "
                           "secret itself never goes in this file)",
                           *slots[i]);
    }
    v = config_setting_get_member(g, "headers");
    if (v == NULL)
        return PE_OK;
    if (config_setting_type(v) != CONFIG_TYPE_ARRAY &&
        config_setting_type(v) != CONFIG_TYPE_LIST)
        return fail_at(r, v, "sink.headers",
                       "expected a list of strings [ \"Name: value\", ... ]");
    c->sink.headers = pe_xcalloc((size_t)config_setting_length(v) + 1,
                                 sizeof(char *));
    for (int i = 0; i < config_setting_length(v); i++) {
        const config_setting_t *h = config_setting_get_elem(v, (unsigned)i);

        if (config_setting_type(h) != CONFIG_TYPE_STRING ||
            !header_valid(config_setting_get_string(h)))
            return fail_at(r, h, "sink.headers",
                           "entry %d is not a \"Name: value\" header", i + 1);
        c->sink.headers[c->sink.n_headers++] =
            pe_xstrdup(config_setting_get_string(h));
    }
    return PE_OK;
}

/* Checks a base URL (and drops trailing slashes). */
static enum pe_status check_url(struct reader *r, const config_setting_t *g,
                                const char *key, char *url)
{
    const config_setting_t *at = config_setting_get_member(g, key + 5);
    size_t n = strlen(url), scheme;

    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return fail_at(r, at ? at : g, key,
                       "must start with https:// (or http:// for a local "
                       "endpoint)");
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    scheme = url[4] == 's' ? 8 : 7;
    if (n <= scheme || url[scheme] == ':' || url[scheme] == '/')
        return fail_at(r, at ? at : g, key, "has no host name");
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '?' || *q == '#')
            return fail_at(r, at ? at : g, key,
                           "must not contain spaces, control characters, a "
                           "query or a fragment");
    return PE_OK;
}

/* Where records go: the REST proxy's invoke URL, or a Kinesis region and
 * endpoint.  Either way the base URL ends up in sink.invoke_url. */
static enum pe_status read_sink_target(struct reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    char *kind = NULL;
    enum pe_status st;

    if ((st = get_string(r, g, "sink.", "kind", false, "rest_proxy", &kind)) !=
        PE_OK)
        return st;
    if (strcmp(kind, "rest_proxy") == 0) {
        c->sink.kind = PE_SINK_REST_PROXY;
    } else if (strcmp(kind, "kinesis") == 0) {
        c->sink.kind = PE_SINK_KINESIS;
    } else {
        st = fail_at(r, config_setting_get_member(g, "kind"), "sink.kind",
                     "\"%s\" is not rest_proxy or kinesis", kind);
        free(kind);
        return st;
    }
    free(kind);
    if (c->sink.kind == PE_SINK_REST_PROXY) {
        if (config_setting_get_member(g, "endpoint") != NULL ||
            config_setting_get_member(g, "region") != NULL)
            return fail_at(r, g, "sink.endpoint",
                           "endpoint and region are for kind = \"kinesis\"");
        if ((st = get_string(r, g, "sink.", "invoke_url", true, NULL,
                             &c->sink.invoke_url)) != PE_OK)
            return st;
        return check_url(r, g, "sink.invoke_url", c->sink.invoke_url);
    }
    if (config_setting_get_member(g, "invoke_url") != NULL)
        return fail_at(r, config_setting_get_member(g, "invoke_url"),
                       "sink.invoke_url",
                       "is for the REST proxy; kind = \"kinesis\" uses "
                       "region and endpoint");
    if ((st = get_string(r, g, "sink.", "region", true, NULL,
                         &c->sink.region)) != PE_OK ||
        (st = get_string(r, g, "sink.", "endpoint", false, NULL,
                         &c->sink.invoke_url)) != PE_OK)
        return st;
    for (const char *p = c->sink.region; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return fail_at(r, config_setting_get_member(g, "region"),
                           "sink.region", "\"%s\" is not a region name",
                           c->sink.region);
    if (c->sink.invoke_url == NULL)
        c->sink.invoke_url =
            pe_xasprintf("https://kinesis.%s.amazonaws.com", c->sink.region);
    return check_url(r, g, "sink.endpoint", c->sink.invoke_url);
}

/* state.store: "file" (default) or "database", with its table. */
static enum pe_status read_state_store(struct reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    char *store = NULL;
    enum pe_status st;

    if ((st = get_string(r, g, "state.", "store", false, "file", &store)) !=
        PE_OK)
        return st;
    c->state.database = strcmp(store, "database") == 0;
    if (!c->state.database && strcmp(store, "file") != 0) {
        st = fail_at(r, config_setting_get_member(g, "store"), "state.store",
                     "\"%s\" is not file or database", store);
        free(store);
        return st;
    }
    free(store);
    if ((st = get_string(r, g, "state.", "table", false,
                         "pinemit.checkpoints", &c->state.table)) != PE_OK ||
        (st = get_long(r, g, "state.", "max_shards_per_instance", 0, 0,
                       100000, &c->state.max_shards_per_instance)) != PE_OK)
        return st;
    if (strchr(c->state.table, '.') == NULL ||
        strchr(strchr(c->state.table, '.') + 1, '.') != NULL)
        return fail_at(r, config_setting_get_member(g, "table"),
                       "state.table", "\"%s\" is not schema.table",
                       c->state.table);
    return PE_OK;
}

/* Kinesis stream names: [a-zA-Z0-9_.-]{1,128}. */
static bool kinesis_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
            *s != '-')
            return false;
    return true;
}

static enum pe_status read_streams(struct reader *r, const config_setting_t *root,
                                   const char *user_id, struct pe_config *c)
{
    static const char *const keys[] = {"name",        "table", "key",
                                       "topic",       "ordered_writer",
                                       "message_key", "shards",
                                       "unique_key",  NULL};
    const config_setting_t *list = config_setting_get_member(root, "streams");
    enum pe_status st;
    int n;

    if (list == NULL)
        return fail_at(r, NULL, "streams", "required setting is missing");
    if (config_setting_type(list) != CONFIG_TYPE_LIST &&
        config_setting_type(list) != CONFIG_TYPE_ARRAY)
        return fail_at(r, list, "streams", "expected a list ( { ... }, ... )");
    n = config_setting_length(list);
    if (n == 0)
        return fail_at(r, list, "streams", "at least one stream is needed");
    c->streams = pe_xcalloc((size_t)n, sizeof(*c->streams));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct pe_stream_config *s = &c->streams[i];
        char prefix[96];

        c->n_streams = (size_t)i + 1;
        snprintf(prefix, sizeof(prefix), "streams.[%d].", i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
            return fail_at(r, g, prefix, "expected a group { ... }");
        if ((st = check_members(r, g, prefix, keys)) != PE_OK ||
            (st = get_string(r, g, prefix, "name", true, NULL, &s->name)) !=
                PE_OK)
            return st;
        if (!stream_name_valid(s->name))
            return fail_at(r, config_setting_get_member(g, "name"),
                           "streams.name",
                           "\"%s\" is not a valid stream name (letters, "
                           "digits, '_' and '-', at most 64)",
                           s->name);
        snprintf(prefix, sizeof(prefix), "streams.%s.", s->name);
        for (int j = 0; j < i; j++)
            if (strcmp(c->streams[j].name, s->name) == 0)
                return fail_at(r, config_setting_get_member(g, "name"),
                               "streams.name", "duplicate stream name \"%s\"",
                               s->name);
        if ((st = get_string(r, g, prefix, "table", false, s->name,
                             &s->table)) != PE_OK ||
            (st = get_string(r, g, prefix, "message_key", false, NULL,
                             &s->message_key)) != PE_OK ||
            (st = get_long(r, g, prefix, "shards", 1, 1, 1024, &s->shards)) !=
                PE_OK ||
            (st = get_string(r, g, prefix, "key", false, "id", &s->key)) !=
                PE_OK ||
            (st = get_string(r, g, prefix, "topic", false, NULL, &s->topic)) !=
                PE_OK)
            return st;
        {
            static const char *const flags[] = {"ordered_writer",
                                                "unique_key"};
            bool *slots[] = {&s->ordered_writer, &s->unique_key};

            for (size_t f = 0; f < 2; f++) {
                const config_setting_t *v =
                    config_setting_get_member(g, flags[f]);

                if (v != NULL && config_setting_type(v) != CONFIG_TYPE_BOOL)
                    return fail_at(r, v, flags[f], "expected true or false");
                *slots[f] = v != NULL && config_setting_get_bool(v);
            }
        }
        if (s->topic == NULL)
            s->topic = user_id ? pe_xasprintf("%s.%s", user_id, s->name)
                               : pe_xstrdup(s->name);
        if (c->sink.kind == PE_SINK_KINESIS && !kinesis_name_valid(s->topic)) {
            const config_setting_t *at = config_setting_get_member(g, "topic");
            char full[128];

            snprintf(full, sizeof(full), "streams.%s.topic", s->name);
            return fail_at(r, at ? at : g, full,
                           "\"%s\" is not a valid Kinesis stream name "
                           "([a-zA-Z0-9_.-], 1 to 128 characters)",
                           s->topic);
        }
        if (c->sink.kind == PE_SINK_REST_PROXY && !pe_topic_valid(s->topic)) {
            const config_setting_t *at = config_setting_get_member(g, "topic");

            char full[128];

            snprintf(full, sizeof(full), "streams.%s.%s", s->name,
                     at ? "topic" : "topic (from user_id)");
            return fail_at(r, at ? at : g, full,
                           "\"%s\" is not a valid Kafka topic name "
                           "([a-zA-Z0-9._-], 1 to 249 characters)",
                           s->topic);
        }
    }
    return PE_OK;
}

/* A conninfo libpq cannot parse is a config error, not a failed
 * connection; libpq's reason may quote the password, so it is masked. */
static enum pe_status check_conninfo(struct reader *r,
                                     const config_setting_t *g,
                                     const char *conninfo)
{
    char *why = pe_conninfo_problem(conninfo);
    enum pe_status st;

    if (why == NULL)
        return PE_OK;
    st = fail_at(r, config_setting_get_member(g, "conninfo"),
                 "source.conninfo", "%s", why);
    free(why);
    return st;
}

static enum pe_status read_all(struct reader *r, const config_setting_t *root,
                               struct pe_config *c)
{
    static const char *const top[] = {"user_id", "source",  "sink",
                                      "batch",   "state",   "run",
                                      "dead_letter", "metrics", "streams",
                                      NULL};
    static const char *const src[] = {"conninfo", "fetch_rows",
                                      "connect_timeout_s",
                                      "max_pending_age_s", NULL};
    static const char *const snk[] = {
        "invoke_url",  "timeout_ms",  "connect_timeout_ms", "ca_file",
        "max_record_bytes", "retry",  "client_cert",        "client_key",
        "insecure",    "api_key_env", "basic_auth_env",     "aws_sigv4",
        "headers",     "kind",        "region",             "endpoint",
        NULL};
    static const char *const sig[] = {"region", "service", NULL};
    static const char *const met[] = {"file", NULL};
    const config_setting_t *g_sig, *g_met;
    static const char *const rty[] = {"max_attempts", "initial_backoff_ms",
                                      "max_backoff_ms", "max_retry_after_ms",
                                      NULL};
    static const char *const run[] = {"max_runtime_s", "jobs", NULL};
    static const char *const dlq[] = {"path", "max", NULL};
    const config_setting_t *g_rty, *g_run, *g_dlq;
    static const char *const bat[] = {"max_records", "max_bytes", NULL};
    static const char *const sta[] = {"dir", "store", "table",
                                      "max_shards_per_instance", NULL};
    const config_setting_t *g_src, *g_snk, *g_bat, *g_sta;
    enum pe_status st;

    if ((st = check_members(r, root, "", top)) != PE_OK ||
        (st = get_string(r, root, "", "user_id", false, NULL, &c->user_id)) !=
            PE_OK ||
        (st = get_group(r, root, "source", &g_src)) != PE_OK ||
        (st = get_group(r, root, "sink", &g_snk)) != PE_OK ||
        (st = get_group(r, root, "batch", &g_bat)) != PE_OK ||
        (st = get_group(r, root, "state", &g_sta)) != PE_OK)
        return st;
    if (g_src == NULL)
        return fail_at(r, NULL, "source", "required group is missing");
    if (g_snk == NULL)
        return fail_at(r, NULL, "sink", "required group is missing");
    if ((st = check_members(r, g_src, "source.", src)) != PE_OK ||
        (st = get_string(r, g_src, "source.", "conninfo", true, NULL,
                         &c->source.conninfo)) != PE_OK ||
        (st = check_conninfo(r, g_src, c->source.conninfo)) != PE_OK ||
        (st = get_long(r, g_src, "source.", "fetch_rows", 2000, 1, 1000000,
                       &c->source.fetch_rows)) != PE_OK ||
        (st = get_long(r, g_src, "source.", "connect_timeout_s", 10, 1, 3600,
                       &c->source.connect_timeout_s)) != PE_OK ||
        (st = get_long(r, g_src, "source.", "max_pending_age_s", 3600, 1,
                       31536000, &c->source.max_pending_age_s)) != PE_OK)
        return st;
    if ((st = check_members(r, g_snk, "sink.", snk)) != PE_OK ||
        (st = read_sink_target(r, g_snk, c)) != PE_OK ||
        (st = get_long(r, g_snk, "sink.", "timeout_ms", 35000, 100, 3600000,
                       &c->sink.timeout_ms)) != PE_OK ||
        (st = get_long(r, g_snk, "sink.", "connect_timeout_ms", 10000, 100,
                       600000, &c->sink.connect_timeout_ms)) != PE_OK ||
        (st = get_string(r, g_snk, "sink.", "ca_file", false, NULL,
                         &c->sink.ca_file)) != PE_OK)
        return st;
    /* 1 MiB is the proxy producer's max.request.size; keep room for
     * Kafka's own record overhead. */
    /* Kinesis counts data plus partition key against exactly 1 MiB. */
    if ((st = get_long(r, g_snk, "sink.", "max_record_bytes",
                       c->sink.kind == PE_SINK_KINESIS ? 1048576 : 1047552,
                       1024, 100000000, &c->sink.max_record_bytes)) != PE_OK ||
        (st = get_group(r, g_snk, "retry", &g_rty)) != PE_OK)
        return st;
    if (g_rty != NULL &&
        (st = check_members(r, g_rty, "sink.retry.", rty)) != PE_OK)
        return st;
    if ((st = get_long(r, g_rty, "sink.retry.", "max_attempts", 8, 1, 1000,
                       &c->sink.retry.max_attempts)) != PE_OK ||
        (st = get_long(r, g_rty, "sink.retry.", "initial_backoff_ms", 200, 1,
                       3600000, &c->sink.retry.initial_backoff_ms)) != PE_OK ||
        (st = get_long(r, g_rty, "sink.retry.", "max_backoff_ms", 30000, 1,
                       3600000, &c->sink.retry.max_backoff_ms)) != PE_OK ||
        (st = get_long(r, g_rty, "sink.retry.", "max_retry_after_ms", 300000,
                       0, 86400000, &c->sink.retry.max_retry_after_ms)) !=
            PE_OK)
        return st;
    if ((st = read_sink_access(r, g_snk, c)) != PE_OK ||
        (st = get_group(r, g_snk, "aws_sigv4", &g_sig)) != PE_OK)
        return st;
    if (g_sig != NULL &&
        ((st = check_members(r, g_sig, "sink.aws_sigv4.", sig)) != PE_OK ||
         (st = get_string(r, g_sig, "sink.aws_sigv4.", "region", true, NULL,
                          &c->sink.sigv4_region)) != PE_OK ||
         (st = get_string(r, g_sig, "sink.aws_sigv4.", "service", false,
                          "execute-api", &c->sink.sigv4_service)) != PE_OK))
        return st;
    if (g_sig != NULL && c->sink.basic_auth_env != NULL)
        return fail_at(r, g_sig, "sink.aws_sigv4",
                       "cannot be combined with basic_auth_env (both use "
                       "the Authorization header)");
    if ((st = get_group(r, root, "metrics", &g_met)) != PE_OK ||
        (g_met != NULL &&
         (st = check_members(r, g_met, "metrics.", met)) != PE_OK) ||
        (st = get_string(r, g_met, "metrics.", "file", false, NULL,
                         &c->metrics.file)) != PE_OK)
        return st;
    if (c->sink.retry.max_backoff_ms < c->sink.retry.initial_backoff_ms)
        return fail_at(r, config_setting_get_member(g_rty, "max_backoff_ms"),
                       "sink.retry.max_backoff_ms",
                       "must not be below initial_backoff_ms (%ld)",
                       c->sink.retry.initial_backoff_ms);
    if ((st = get_group(r, root, "run", &g_run)) != PE_OK ||
        (g_run != NULL && (st = check_members(r, g_run, "run.", run)) != PE_OK) ||
        (st = get_long(r, g_run, "run.", "max_runtime_s", 0, 0, 31536000,
                       &c->run.max_runtime_s)) != PE_OK ||
        (st = get_long(r, g_run, "run.", "jobs", 0, 0, PE_MAX_JOBS,
                       &c->run.jobs)) != PE_OK)
        return st;
    if (g_bat != NULL && (st = check_members(r, g_bat, "batch.", bat)) != PE_OK)
        return st;
    /* 10,000,000: API Gateway refuses bodies over 10 MB. */
    if ((st = get_long(r, g_bat, "batch.", "max_records", 500, 1, 100000,
                       &c->batch.max_records)) != PE_OK ||
        (st = get_long(r, g_bat, "batch.", "max_bytes", 1048576, 1024,
                       10000000, &c->batch.max_bytes)) != PE_OK)
        return st;
    /* PutRecords takes at most 500 records and 5 MiB per request. */
    if (c->sink.kind == PE_SINK_KINESIS) {
        if (c->batch.max_records > 500)
            c->batch.max_records = 500;
        if (c->batch.max_bytes > 5242880)
            c->batch.max_bytes = 5242880;
    }
    if (g_sta != NULL && (st = check_members(r, g_sta, "state.", sta)) != PE_OK)
        return st;
    if ((st = get_string(r, g_sta, "state.", "dir", false, "/var/lib/pinemit",
                         &c->state.dir)) != PE_OK ||
        (st = read_state_store(r, g_sta, c)) != PE_OK)
        return st;
    if ((st = get_group(r, root, "dead_letter", &g_dlq)) != PE_OK ||
        (g_dlq != NULL &&
         (st = check_members(r, g_dlq, "dead_letter.", dlq)) != PE_OK) ||
        (st = get_string(r, g_dlq, "dead_letter.", "path", false, NULL,
                         &c->dead_letter.path)) != PE_OK ||
        (st = get_long(r, g_dlq, "dead_letter.", "max", -1, -1, 1000000000,
                       &c->dead_letter.max)) != PE_OK)
        return st;
    if (c->dead_letter.path == NULL)
        c->dead_letter.path =
            pe_xasprintf("%s/dead-letters.jsonl", c->state.dir);
    if (c->user_id != NULL && !pe_topic_valid(c->user_id))
        return fail_at(r, config_setting_get_member(root, "user_id"),
                       "user_id",
                       "\"%s\" cannot start a Kafka topic name "
                       "([a-zA-Z0-9._-])",
                       c->user_id);
    return read_streams(r, root, c->user_id, c);
}

enum pe_status pe_config_load(const char *path, struct pe_config *out,
                              struct pe_error *err)
{
    struct reader r = {path, err};
    struct pe_config c;
    config_t cfg;
    enum pe_status st;
    struct stat sb;
    FILE *f;

    memset(&c, 0, sizeof(c));
    f = fopen(path, "r");
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
    {
        char line[4096];
        int lineno = 0;

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
    }
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
    for (size_t i = 0; i < c->n_streams; i++) {
        free(c->streams[i].name);
        free(c->streams[i].table);
        free(c->streams[i].key);
        free(c->streams[i].topic);
        free(c->streams[i].message_key);
    }
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
