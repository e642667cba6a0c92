/* SPDX-License-Identifier: MIT
 * sinkcfg.c - owns the translation of the config's sink section into the
 * sink's options, frame and record limit.  It must not send, log or know
 * a stream's rows. */
#include "sinkcfg.h"

#include <stdlib.h>
#include <string.h>

#include "signals.h"

/* A secret from the environment variable `var`, named by config key
 * `key`; the value itself is never printed.  It ends up in a header, so a
 * line break in it would start a header of its own. */
static enum pe_status secret_env(const char *key, const char *var,
                                 const char **out, struct pe_error *err)
{
    const char *v = getenv(var);

    if (v == NULL || *v == '\0')
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: environment variable %s is not set", key,
                            var);
    if (strpbrk(v, "\r\n") != NULL)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: environment variable %s holds a line break "
                            "(CR or LF)",
                            key, var);
    *out = v;
    return PE_OK;
}

/* The sink's options: the config, plus secrets from the environment. */
enum pe_status pe_sinkcfg_opts(const struct pe_config *c,
                               struct pe_sink_opts *so, struct pe_error *err)
{
    enum pe_status st = PE_OK;

    memset(so, 0, sizeof(*so));
    so->invoke_url = c->sink.invoke_url;
    so->timeout_ms = c->sink.timeout_ms;
    so->connect_timeout_ms = c->sink.connect_timeout_ms;
    so->ca_file = c->sink.ca_file;
    so->client_cert = c->sink.client_cert;
    so->client_key = c->sink.client_key;
    so->insecure = c->sink.insecure;
    so->headers = (const char *const *)c->sink.headers;
    so->n_headers = c->sink.n_headers;
    so->abort_flag = pe_signals_stop_flag();
    if (c->sink.api_key_env != NULL)
        st = secret_env("sink.api_key_env", c->sink.api_key_env, &so->api_key,
                        err);
    if (st == PE_OK && c->sink.basic_auth_env != NULL) {
        st = secret_env("sink.basic_auth_env", c->sink.basic_auth_env,
                        &so->basic_auth, err);
        if (st == PE_OK && strchr(so->basic_auth, ':') == NULL)
            st = pe_error_set(err, PE_ERR_CONFIG, false,
                              "sink.basic_auth_env: %s must hold "
                              "user:password",
                              c->sink.basic_auth_env);
    }
    so->kinesis = c->sink.kind == PE_SINK_KINESIS;
    if (st == PE_OK && (so->kinesis || c->sink.sigv4_region != NULL)) {
        so->sigv4_region = so->kinesis ? c->sink.region : c->sink.sigv4_region;
        so->sigv4_service = so->kinesis ? "kinesis" : c->sink.sigv4_service;
        const char *who = so->kinesis ? "sink.kind = kinesis" : "sink.aws_sigv4";

        st = secret_env(who, "AWS_ACCESS_KEY_ID", &so->aws_access_key_id, err);
        if (st == PE_OK)
            st = secret_env(who, "AWS_SECRET_ACCESS_KEY",
                            &so->aws_secret_access_key, err);
        if (st == PE_OK && getenv("AWS_SESSION_TOKEN") != NULL &&
            *getenv("AWS_SESSION_TOKEN") != '\0')
            st = secret_env(who, "AWS_SESSION_TOKEN", &so->aws_session_token,
                            err);
    }
    return st;
}

/* A PutRecords body: {"StreamName":"<stream>","Records":[ ... ]}, whose
 * batch.max_bytes counts what Kinesis counts: data before base64, plus
 * the partition keys. */
void pe_sinkcfg_kinesis_frame(struct pe_batch *b, const char *stream)
{
    struct pe_buf head;

    pe_batch_count_sizes(b);
    pe_buf_init(&head, 0);
    pe_buf_puts(&head, "{\"StreamName\":");
    pe_buf_json_string(&head, stream);
    pe_buf_puts(&head, ",\"Records\":[");
    pe_batch_set_frame(b, head.data, "]}");
    pe_buf_cleanup(&head);
}

/* The largest record the sink takes (REST: sink.max_record_bytes;
 * Kinesis: also at most 1 MiB of data plus partition key) and its name. */
size_t pe_sinkcfg_record_limit(const struct pe_config *c, const char **what)
{
    size_t limit = (size_t)c->sink.max_record_bytes;

    *what = "sink.max_record_bytes";
    if (c->sink.kind == PE_SINK_KINESIS && limit > 1048576) {
        *what = "Kinesis' record limit";
        limit = 1048576;
    }
    return limit;
}
