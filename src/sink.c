/* SPDX-License-Identifier: MIT
 * sink.c - the sink factory and dispatch: the one function that picks a
 * backend from the config and the dry-run flag, and the calls through
 * the ops table.  It must not know a body format, an answer format or
 * libcurl: those belong to sink_rest.c, sink_kinesis.c, sink_stdout.c and
 * http.c. */
#include "sink.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "sink_kinesis.h"
#include "sink_rest.h"
#include "sink_stdout.h"

enum pe_status pe_sink_global_init(struct pe_error *err)
{
    return pe_http_global_init(err);
}

void pe_sink_global_cleanup(void)
{
    pe_http_global_cleanup();
}

/* The configured kind's backend (its format), and the one that sends:
 * the same, or the dry run's. */
static const struct pe_sink_ops *pick(const struct pe_config *c, bool dry_run,
                                      const struct pe_sink_ops **format)
{
    *format = c->sink.kind == PE_SINK_KINESIS ? &pe_sink_kinesis_ops
                                              : &pe_sink_rest_ops;
    return dry_run ? &pe_sink_stdout_ops : *format;
}

struct pe_sink_plan pe_sink_plan(const struct pe_config *c, bool dry_run)
{
    const struct pe_sink_ops *format;
    const struct pe_sink_ops *ops = pick(c, dry_run, &format);
    struct pe_sink_plan p;

    p.delivers = ops->delivers;
    p.keeps_state = ops->delivers;
    p.prints = !ops->delivers;
    p.unverified_tls = ops->delivers && c->sink.insecure;
    return p;
}

struct pe_sink *pe_sink_open(const struct pe_config *c, bool dry_run,
                             const volatile sig_atomic_t *abort_flag,
                             struct pe_error *err)
{
    struct pe_sink *s = pe_xcalloc(1, sizeof(*s));

    s->ops = pick(c, dry_run, &s->format);
    s->max_record_bytes = (size_t)c->sink.max_record_bytes;
    s->abort_flag = abort_flag;
    pe_buf_init(&s->scratch, 0);
    if (s->ops->open(s, c, err) != PE_OK) {
        pe_sink_close(s);
        return NULL;
    }
    return s;
}

void pe_sink_close(struct pe_sink *s)
{
    if (s == NULL)
        return;
    if (s->impl != NULL)
        s->ops->close(s);
    pe_buf_cleanup(&s->scratch);
    free(s);
}

bool pe_sink_delivers(const struct pe_sink *s)
{
    return s->ops->delivers;
}

void pe_sink_frame(struct pe_sink *s, struct pe_batch *b, const char *topic)
{
    s->format->frame(b, topic);
}

enum pe_status pe_sink_encode(struct pe_sink *s, const struct pe_sink_row *row,
                              struct pe_buf *rec, size_t *counted, char *why,
                              size_t why_len, struct pe_error *err)
{
    why[0] = '\0';
    return s->format->encode(s, row, rec, counted, why, why_len, err);
}

size_t pe_sink_record_limit(const struct pe_sink *s, const char **what)
{
    return s->format->record_limit(s->max_record_bytes, what);
}

enum pe_status pe_sink_check_letter(const struct pe_sink *s,
                                    const struct pe_dead_letter *d,
                                    size_t *size, struct pe_error *err)
{
    return pe_dlq_check_record(d, s->format->dlq_format, size, err);
}

enum pe_status pe_sink_send(struct pe_sink *s, const char *topic,
                            const char *body, size_t len, size_t n_records,
                            struct pe_record_status *per,
                            struct pe_produce_result *res, struct pe_error *err)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    return s->ops->send(s, topic, body, len, n_records, per, res, err);
}

enum pe_status pe_sink_list_topics(struct pe_sink *s, struct pe_buf *names,
                                   struct pe_error *err)
{
    return s->ops->list_topics(s, names, err);
}

/* A secret from the environment variable `var`, named by config key
 * `key`; the value itself is never printed.  It ends up in a header, so a
 * line break in it would start a header of its own. */
static enum pe_status secret_env(const char *key, const char *var,
                                 const char **out, struct pe_error *err)
{
    const char *v = getenv(var);

    if (v == NULL || *v == '\0')
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: environment variable %s is not set", key, var);
    if (strpbrk(v, "\r\n") != NULL)
        return pe_error_set(err, PE_ERR_CONFIG, false,
                            "%s: environment variable %s holds a line break "
                            "(CR or LF)",
                            key, var);
    *out = v;
    return PE_OK;
}

static enum pe_status aws_secrets(const char *who, struct pe_http_opts *o,
                                  struct pe_error *err)
{
    enum pe_status st;
    const char *token = getenv("AWS_SESSION_TOKEN");

    st = secret_env(who, "AWS_ACCESS_KEY_ID", &o->aws_access_key_id, err);
    if (st == PE_OK)
        st = secret_env(who, "AWS_SECRET_ACCESS_KEY", &o->aws_secret_access_key,
                        err);
    if (st == PE_OK && token != NULL && *token != '\0')
        st = secret_env(who, "AWS_SESSION_TOKEN", &o->aws_session_token, err);
    return st;
}

/* The config's transport settings and secrets into *o. */
static enum pe_status http_opts(const struct pe_sink *s,
                                const struct pe_config *c,
                                const struct pe_sink_http_spec *spec,
                                struct pe_http_opts *o, struct pe_error *err)
{
    enum pe_status st = PE_OK;

    memset(o, 0, sizeof(*o));
    o->base_url = c->sink.invoke_url;
    o->timeout_ms = c->sink.timeout_ms;
    o->connect_timeout_ms = c->sink.connect_timeout_ms;
    o->ca_file = c->sink.ca_file;
    o->client_cert = c->sink.client_cert;
    o->client_key = c->sink.client_key;
    o->insecure = c->sink.insecure;
    o->headers = (const char *const *)c->sink.headers;
    o->n_headers = c->sink.n_headers;
    o->abort_flag = s->abort_flag;
    if (c->sink.api_key_env != NULL)
        st = secret_env("sink.api_key_env", c->sink.api_key_env, &o->api_key,
                        err);
    if (st == PE_OK && c->sink.basic_auth_env != NULL) {
        st = secret_env("sink.basic_auth_env", c->sink.basic_auth_env,
                        &o->basic_auth, err);
        if (st == PE_OK && strchr(o->basic_auth, ':') == NULL)
            st = pe_error_set(err, PE_ERR_CONFIG, false,
                              "sink.basic_auth_env: %s must hold "
                              "user:password",
                              c->sink.basic_auth_env);
    }
    if (st == PE_OK && spec->region != NULL) {
        o->sigv4_region = spec->region;
        o->sigv4_service = spec->service;
        st = aws_secrets(spec->who, o, err);
    }
    o->post_headers = spec->post_headers;
    o->n_post_headers = spec->n_post_headers;
    o->get_headers = spec->get_headers;
    o->n_get_headers = spec->n_get_headers;
    return st;
}

enum pe_status pe_sink_http_open(struct pe_sink *s, const struct pe_config *c,
                                 const struct pe_sink_http_spec *spec,
                                 struct pe_error *err)
{
    struct pe_http_opts o;
    enum pe_status st = http_opts(s, c, spec, &o, err);

    if (st != PE_OK)
        return st;
    s->impl = pe_http_new(&o, err);
    return s->impl != NULL ? PE_OK : err->status;
}

void pe_sink_http_close(struct pe_sink *s)
{
    pe_http_free(s->impl);
    s->impl = NULL;
}

/* The error of a non-OK produce answer, as both HTTP backends word it. */
static enum pe_status answer_error(const char *topic, size_t n_records,
                                   const struct pe_produce_result *res,
                                   struct pe_error *err)
{
    long status = res->http_status;

    if (res->outcome == PE_OUT_RECORD_ERRORS)
        return pe_error_set(err, PE_ERR_PROXY, res->retriable,
                            "topic %s: HTTP %ld: %zu of %zu %s failed, "
                            "first at index %zu: error_code %ld: %s",
                            topic, status, res->n_failed, n_records,
                            n_records == 1 ? "record" : "records",
                            res->first_failed, res->error_code, res->message);
    if (res->outcome == PE_OUT_PROXY_ERROR)
        return pe_error_set(err, PE_ERR_PROXY, res->retriable,
                            "topic %s: HTTP %ld: error_code %ld: %s", topic,
                            status, res->error_code, res->message);
    return pe_error_set(err, PE_ERR_PROXY, res->retriable,
                        "topic %s: HTTP %ld: %s: %s", topic, status,
                        pe_outcome_name(res->outcome), res->message);
}

enum pe_status
pe_sink_http_send(struct pe_http *h, const char *url, const char *topic,
                  const char *body, size_t len, size_t n_records,
                  struct pe_record_status *per, struct pe_produce_result *res,
                  pe_sink_classify_fn *classify, struct pe_error *err)
{
    struct pe_http_answer a;
    enum pe_status st;

    st = pe_http_request(h, url, false, body, len, &a, res, err);
    if (st != PE_OK)
        return st;
    classify(a.status, a.body, a.len, n_records, per, res);
    res->retry_after_ms = a.retry_after_ms;
    if (res->outcome == PE_OUT_OK)
        return PE_OK;
    return answer_error(topic, n_records, res, err);
}
