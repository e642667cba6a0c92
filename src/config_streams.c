/* SPDX-License-Identifier: MIT
 * config_streams.c - the `streams` list: each stream's name, table, key,
 * topic (checked against the sink's naming rules), shards and flags.
 * It fills c->streams only, and must not touch the database. */
#include "config_streams.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Kinesis stream names: [a-zA-Z0-9_.-]{1,128}. */
static bool kinesis_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* The topic (or Kinesis stream) a stream sends to, against the rules of
 * the configured sink. */
static enum pe_status check_topic(struct pe_cfg_reader *r,
                                  const config_setting_t *g,
                                  const struct pe_stream_config *s,
                                  enum pe_sink_kind kind)
{
    const config_setting_t *at = config_setting_get_member(g, "topic");
    char full[128];

    if (kind == PE_SINK_KINESIS && !kinesis_name_valid(s->topic)) {
        snprintf(full, sizeof(full), "streams.%s.topic", s->name);
        return pe_cfg_fail(r, at ? at : g, full,
                           "\"%s\" is not a valid Kinesis stream name "
                           "([a-zA-Z0-9_.-], 1 to 128 characters)",
                           s->topic);
    }
    if (kind == PE_SINK_REST_PROXY && !pe_topic_valid(s->topic)) {
        snprintf(full, sizeof(full), "streams.%s.%s", s->name,
                 at ? "topic" : "topic (from user_id)");
        return pe_cfg_fail(r, at ? at : g, full,
                           "\"%s\" is not a valid Kafka topic name "
                           "([a-zA-Z0-9._-], 1 to 249 characters)",
                           s->topic);
    }
    return PE_OK;
}

/* The name of stream i (the i + 1 first of c->streams are in use): valid
 * and not taken by an earlier one. */
static enum pe_status read_stream_name(struct pe_cfg_reader *r,
                                       const config_setting_t *g, int i,
                                       struct pe_config *c)
{
    static const char *const keys[] = {
        "name",        "table",  "key",        "topic",   "ordered_writer",
        "message_key", "shards", "shard_chunk", "unique_key", "columns",
        "where",       NULL};
    struct pe_stream_config *s = &c->streams[i];
    char prefix[96];
    enum pe_status st;

    snprintf(prefix, sizeof(prefix), "streams.[%d].", i);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return pe_cfg_fail(r, g, prefix, "expected a group { ... }");
    if ((st = pe_cfg_members(r, g, prefix, keys)) != PE_OK ||
        (st = pe_cfg_string(r, g, prefix, "name", true, NULL, &s->name)) !=
            PE_OK)
        return st;
    if (!stream_name_valid(s->name))
        return pe_cfg_fail(r, config_setting_get_member(g, "name"),
                           "streams.name",
                           "\"%s\" is not a valid stream name (letters, "
                           "digits, '_' and '-', at most 64)",
                           s->name);
    for (int j = 0; j < i; j++)
        if (strcmp(c->streams[j].name, s->name) == 0)
            return pe_cfg_fail(r, config_setting_get_member(g, "name"),
                               "streams.name", "duplicate stream name \"%s\"",
                               s->name);
    return PE_OK;
}

/* key = "id"; or key = ["updated_at", "id"]; (1 to PE_MAX_KEYS distinct,
 * non-empty names).  Fills s->keys and the display form s->key. */
static enum pe_status read_key(struct pe_cfg_reader *r,
                               const config_setting_t *g,
                               struct pe_stream_config *s)
{
    const config_setting_t *k = config_setting_get_member(g, "key");
    char prefix[96], what[112];
    struct pe_buf shown;
    int n;

    snprintf(prefix, sizeof(prefix), "streams.%s.", s->name);
    snprintf(what, sizeof(what), "%skey", prefix);
    if (k == NULL || config_setting_type(k) == CONFIG_TYPE_STRING) {
        s->keys = pe_xcalloc(1, sizeof(*s->keys));
        s->n_keys = 1;
        if (pe_cfg_string(r, g, prefix, "key", false, "id",
                          &s->keys[0]) != PE_OK)
            return PE_ERR_CONFIG;
        s->key = pe_xstrdup(s->keys[0]);
        return PE_OK;
    }
    if ((config_setting_type(k) != CONFIG_TYPE_ARRAY &&
         config_setting_type(k) != CONFIG_TYPE_LIST) ||
        (n = config_setting_length(k)) < 1 || n > PE_MAX_KEYS)
        return pe_cfg_fail(r, k, what,
                           "expected a column name or an array of 1 to %d "
                           "column names",
                           PE_MAX_KEYS);
    s->keys = pe_xcalloc((size_t)n, sizeof(*s->keys));
    pe_buf_init(&shown, 0);
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(k, i);

        if (v == NULL || v[0] == '\0') {
            pe_buf_cleanup(&shown);
            return pe_cfg_fail(r, k, what, "element %d is not a column name",
                               i + 1);
        }
        for (size_t j = 0; j < s->n_keys; j++)
            if (strcmp(s->keys[j], v) == 0) {
                pe_buf_cleanup(&shown);
                return pe_cfg_fail(r, k, what, "column \"%s\" appears twice",
                                   v);
            }
        s->keys[s->n_keys++] = pe_xstrdup(v);
        pe_buf_printf(&shown, "%s%s", i ? ", " : "", v);
    }
    s->key = shown.data;
    return PE_OK;
}

/* "FILE:LINE: streams.NAME.KEY" of setting `at`, for later messages. */
static char *where_of(const struct pe_cfg_reader *r, const config_setting_t *at,
                      const struct pe_stream_config *s, const char *key)
{
    return pe_xasprintf("%s:%d: streams.%s.%s", r->path,
                        config_setting_source_line(at), s->name, key);
}

/* One element of `columns`: "name" or { column = "name"; as = "alias"; }. */
static enum pe_status read_column(struct pe_cfg_reader *r,
                                  const config_setting_t *e,
                                  struct pe_stream_config *s,
                                  struct pe_column_config *col)
{
    static const char *const members[] = {"column", "as", NULL};
    char prefix[120], what[112];
    enum pe_status st;

    snprintf(what, sizeof(what), "streams.%s.columns", s->name);
    snprintf(prefix, sizeof(prefix), "%s.", what);
    col->where = where_of(r, e, s, "columns");
    if (config_setting_type(e) == CONFIG_TYPE_STRING) {
        col->column = pe_xstrdup(config_setting_get_string(e));
    } else if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
        return pe_cfg_fail(r, e, what,
                           "expected a column name or a group { column = "
                           "\"...\"; as = \"...\"; }");
    } else if ((st = pe_cfg_members(r, e, prefix, members)) != PE_OK ||
               (st = pe_cfg_string(r, e, prefix, "column", true, NULL,
                                   &col->column)) != PE_OK ||
               (st = pe_cfg_string(r, e, prefix, "as", false, NULL,
                                   &col->as)) != PE_OK) {
        return st;
    }
    if (col->column[0] == '\0')
        return pe_cfg_fail(r, e, what, "a column name cannot be empty");
    if (col->as == NULL)
        col->as = pe_xstrdup(col->column);
    for (size_t j = 0; j < s->n_columns; j++)
        if (strcmp(s->columns[j].as, col->as) == 0)
            return pe_cfg_fail(r, e, what,
                               "\"%s\" would be the name of two members of "
                               "the record",
                               col->as);
    return PE_OK;
}

/* columns = ( "a", { column = "b"; as = "c"; } ); and where = "...". */
static enum pe_status read_shape(struct pe_cfg_reader *r,
                                 const config_setting_t *g,
                                 struct pe_stream_config *s)
{
    const config_setting_t *list = config_setting_get_member(g, "columns");
    const config_setting_t *w = config_setting_get_member(g, "where");
    char prefix[96], what[112];
    enum pe_status st;
    int n;

    snprintf(prefix, sizeof(prefix), "streams.%s.", s->name);
    snprintf(what, sizeof(what), "%scolumns", prefix);
    if ((st = pe_cfg_string(r, g, prefix, "where", false, NULL, &s->where)) !=
        PE_OK)
        return st;
    if (w != NULL)
        s->where_at = where_of(r, w, s, "where");
    if (list == NULL)
        return PE_OK;
    if (config_setting_type(list) != CONFIG_TYPE_LIST &&
        config_setting_type(list) != CONFIG_TYPE_ARRAY)
        return pe_cfg_fail(r, list, what,
                           "expected a list ( \"column\", { column = ...; "
                           "as = ...; }, ... )");
    if ((n = config_setting_length(list)) == 0)
        return pe_cfg_fail(r, list, what,
                           "at least one column is needed (leave columns "
                           "out to send them all)");
    s->columns = pe_xcalloc((size_t)n, sizeof(*s->columns));
    for (int i = 0; i < n; i++) {
        if ((st = read_column(r, config_setting_get_elem(list, (unsigned)i), s,
                              &s->columns[i])) != PE_OK) {
            s->n_columns = (size_t)i + 1; /* freed with the rest */
            return st;
        }
        s->n_columns = (size_t)i + 1;
    }
    return PE_OK;
}

void pe_config_stream_cleanup(struct pe_stream_config *s)
{
    free(s->name);
    free(s->table);
    free(s->key);
    for (size_t k = 0; k < s->n_keys; k++)
        free(s->keys[k]);
    free(s->keys);
    free(s->topic);
    free(s->message_key);
    for (size_t i = 0; i < s->n_columns; i++) {
        free(s->columns[i].column);
        free(s->columns[i].as);
        free(s->columns[i].where);
    }
    free(s->columns);
    free(s->where);
    free(s->where_at);
    free(s->shard_chunk_at);
}

/* shard_chunk = C; (1 to 2^31 - 1): runs of C keys share a shard.  The
 * key's type is the table's to check (pg_shard.c), so the setting's place
 * is kept for that message. */
static enum pe_status read_shard_chunk(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       const char *prefix,
                                       struct pe_stream_config *s)
{
    const config_setting_t *at = config_setting_get_member(g, "shard_chunk");
    enum pe_status st = pe_cfg_long(r, g, prefix, "shard_chunk", 1, 1,
                                    2147483647L, &s->shard_chunk);

    if (st == PE_OK && at != NULL)
        s->shard_chunk_at = where_of(r, at, s, "shard_chunk");
    return st;
}

/* One element of the list: stream i. */
static enum pe_status read_stream(struct pe_cfg_reader *r,
                                  const config_setting_t *g, int i,
                                  struct pe_config *c)
{
    struct pe_stream_config *s = &c->streams[i];
    char prefix[96];
    enum pe_status st;

    if ((st = read_stream_name(r, g, i, c)) != PE_OK)
        return st;
    snprintf(prefix, sizeof(prefix), "streams.%s.", s->name);
    if ((st = pe_cfg_string(r, g, prefix, "table", false, s->name,
                            &s->table)) != PE_OK ||
        (st = pe_cfg_string(r, g, prefix, "message_key", false, NULL,
                            &s->message_key)) != PE_OK ||
        (st = pe_cfg_long(r, g, prefix, "shards", 1, 1, 1024, &s->shards)) !=
            PE_OK ||
        (st = read_shard_chunk(r, g, prefix, s)) != PE_OK ||
        (st = read_key(r, g, s)) != PE_OK ||
        (st = read_shape(r, g, s)) != PE_OK ||
        (st = pe_cfg_string(r, g, prefix, "topic", false, NULL, &s->topic)) !=
            PE_OK ||
        /* The flags' messages name them without the stream, as ever. */
        (st = pe_cfg_bool(r, g, "", "ordered_writer", &s->ordered_writer)) !=
            PE_OK ||
        (st = pe_cfg_bool(r, g, "", "unique_key", &s->unique_key)) != PE_OK)
        return st;
    if (s->topic == NULL)
        s->topic = c->user_id ? pe_xasprintf("%s.%s", c->user_id, s->name)
                              : pe_xstrdup(s->name);
    return check_topic(r, g, s, c->sink.kind);
}

enum pe_status pe_config_read_streams(struct pe_cfg_reader *r,
                                      const config_setting_t *root,
                                      struct pe_config *c)
{
    const config_setting_t *list = config_setting_get_member(root, "streams");
    enum pe_status st;
    int n;

    if (list == NULL)
        return pe_cfg_fail(r, NULL, "streams", "required setting is missing");
    if (config_setting_type(list) != CONFIG_TYPE_LIST &&
        config_setting_type(list) != CONFIG_TYPE_ARRAY)
        return pe_cfg_fail(r, list, "streams",
                           "expected a list ( { ... }, ... )");
    n = config_setting_length(list);
    if (n == 0)
        return pe_cfg_fail(r, list, "streams", "at least one stream is needed");
    c->streams = pe_xcalloc((size_t)n, sizeof(*c->streams));
    for (int i = 0; i < n; i++) {
        c->n_streams = (size_t)i + 1;
        if ((st = read_stream(r, config_setting_get_elem(list, (unsigned)i), i,
                              c)) != PE_OK)
            return st;
    }
    return PE_OK;
}
