/* SPDX-License-Identifier: MIT
 * config.h - read and validate the libconfig file into plain structs
 * (one reader per section: config.c, config_sink.c, config_streams.c).
 * Every value is checked here (types, bounds, unknown keys) so later stages
 * can trust it; messages read "FILE:LINE: key: problem". */
#ifndef PINEMIT_CONFIG_H
#define PINEMIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* At most this many columns in a composite key. */
#define PE_MAX_KEYS 8

/* One element of a stream's `columns`. */
struct pe_column_config {
    char *column; /* in the table */
    char *as;     /* the record's member name (column when not renamed) */
    char *where;  /* "FILE:LINE: streams.NAME.columns", for messages */
};

struct pe_stream_config {
    char *name;  /* [A-Za-z0-9_-]+, unique */
    char *table; /* as written; "schema.table" or "table" */
    char *key;   /* the key as written for messages: "id", or
                    "updated_at, id" for a composite key */
    char **keys; /* n_keys key column names, in ORDER BY order */
    size_t n_keys;
    char *topic; /* Kafka topic or Kinesis stream; defaults to
                    "<user_id>.<name>" */
    bool ordered_writer; /* keys commit in order: a plain key watermark */
    long shards;         /* disjoint parts by key hash, each checkpointed */
    long shard_chunk;    /* 1: each key hashed; C: runs of C integer keys
                            (key / C) hashed together */
    char *shard_chunk_at; /* "FILE:LINE: streams.NAME.shard_chunk"; NULL
                             when not set */
    char *message_key;   /* column sent as the record key; may be NULL */
    bool unique_key;     /* the user vouches the key is unique (a view) */
    struct pe_column_config *columns; /* the record's members, in order */
    size_t n_columns;                 /* 0: every column, in table order */
    char *where; /* a SQL condition ANDed into every read; may be NULL */
    char *where_at; /* "FILE:LINE: streams.NAME.where", for messages */
};

enum pe_sink_kind { PE_SINK_REST_PROXY = 0, PE_SINK_KINESIS };

/* run.jobs and --jobs: at most this many units at once. */
#define PE_MAX_JOBS 16

struct pe_config {
    char *path;
    char *user_id; /* may be NULL */
    struct {
        char *conninfo; /* secret: never print it unmasked */
        long fetch_rows;
        long connect_timeout_s;
        long max_pending_age_s; /* then stop waiting for a transaction */
    } source;
    struct {
        enum pe_sink_kind kind;
        char *invoke_url; /* base URL, no trailing slash (for Kinesis: the
                             endpoint) */
        char *region;     /* Kinesis */
        long timeout_ms;
        long connect_timeout_ms;
        char *ca_file; /* may be NULL: system CA store */
        char *client_cert;    /* mutual TLS; may be NULL */
        char *client_key;
        bool insecure;        /* no TLS verification (warned about) */
        char *api_key_env;    /* environment variable with the x-api-key */
        char *basic_auth_env; /* environment variable with user:password */
        char *sigv4_region;   /* sign with AWS SigV4 when set */
        char *sigv4_service;  /* default "execute-api" */
        char **headers;       /* extra "Name: value" headers */
        size_t n_headers;
        long max_record_bytes; /* larger records are dead letters */
        long max_in_flight;        /* requests at once per unit (window) */
        long max_in_flight_bytes;  /* unacknowledged bytes per unit */
        struct {
            long max_attempts;
            long initial_backoff_ms;
            long max_backoff_ms;
            long max_retry_after_ms;
        } retry;
    } sink;
    struct {
        long max_records;
        long max_bytes;
    } batch;
    struct {
        char *dir;
        bool database;      /* store = "database": checkpoints in the source */
        char *table;        /* "schema.table" for the database store */
        long max_shards_per_instance; /* 0: no cap */
        long save_interval_ms; /* least time between a unit's saves */
    } state;
    struct {
        long max_runtime_s; /* 0 = no limit */
        long jobs;          /* units sent at once; 0 = automatic */
    } run;
    struct {
        char *path; /* default <state.dir>/dead-letters.jsonl */
        long max;   /* more rejected records in one run abort it; -1 = no cap */
    } dead_letter;
    struct {
        char *file; /* Prometheus textfile; may be NULL */
    } metrics;
    struct pe_stream_config *streams;
    size_t n_streams;
};

/* Loads `path`.  On failure returns PE_ERR_CONFIG (or PE_ERR_IO when the
 * file cannot be read) with a "FILE:LINE: ..." message; *out untouched. */
enum pe_status pe_config_load(const char *path, struct pe_config *out,
                              struct pe_error *err);
void pe_config_cleanup(struct pe_config *c);
const struct pe_stream_config *pe_config_stream(const struct pe_config *c,
                                                const char *name);

/* True when the file is readable by others and source.conninfo (url
 * false) or sink.invoke_url (url true) has a password. */
bool pe_config_password_exposed(const struct pe_config *c, bool url);
/* Kafka's rule: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
bool pe_topic_valid(const char *topic);

#endif
