/* SPDX-License-Identifier: MIT
 * config_sink.c - the `sink` section: where records go (REST proxy invoke
 * URL, or Kinesis region and endpoint), timeouts, record size, retry, TLS,
 * authentication (names of environment variables, never secrets), SigV4
 * and extra headers.  It fills c->sink only, and must not open a
 * connection or read an environment variable. */
#include "config_sink.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (!isalnum((unsigned char)*p) &&
            strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return false;
    return true;
}

static enum pe_status read_sink_headers(struct pe_cfg_reader *r,
                                        const config_setting_t *g,
                                        struct pe_config *c);

/* TLS and authentication settings of the sink.  Secrets themselves are
 * never in the file: only the names of environment variables. */
static enum pe_status read_sink_access(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    const char *envs[2] = {"api_key_env", "basic_auth_env"};
    char **slots[2] = {&c->sink.api_key_env, &c->sink.basic_auth_env};
    enum pe_status st;

    if ((st = pe_cfg_string(r, g, "sink.", "client_cert", false, NULL,
                            &c->sink.client_cert)) != PE_OK ||
        (st = pe_cfg_string(r, g, "sink.", "client_key", false, NULL,
                            &c->sink.client_key)) != PE_OK)
        return st;
    if ((c->sink.client_cert == NULL) != (c->sink.client_key == NULL))
        return pe_cfg_fail(r, g, "sink.client_cert",
                           "client_cert and client_key go together");
    if ((st = pe_cfg_bool(r, g, "sink.", "insecure", &c->sink.insecure)) !=
        PE_OK)
        return st;
    for (size_t i = 0; i < 2; i++) {
        char full[64];

        snprintf(full, sizeof(full), "sink.%s", envs[i]);
        if ((st = pe_cfg_string(r, g, "sink.", envs[i], false, NULL,
                                slots[i])) != PE_OK)
            return st;
        if (*slots[i] != NULL && !env_name_valid(*slots[i]))
            return pe_cfg_fail(
                r, config_setting_get_member(g, envs[i]), full,
                "\"%s\" is not an environment variable name (the "
                "secret itself never goes in this file)",
                *slots[i]);
    }
    return read_sink_headers(r, g, c);
}

/* sink.headers: extra "Name: value" request headers. */
static enum pe_status read_sink_headers(struct pe_cfg_reader *r,
                                        const config_setting_t *g,
                                        struct pe_config *c)
{
    const config_setting_t *v = config_setting_get_member(g, "headers");

    if (v == NULL)
        return PE_OK;
    if (config_setting_type(v) != CONFIG_TYPE_ARRAY &&
        config_setting_type(v) != CONFIG_TYPE_LIST)
        return pe_cfg_fail(
            r, v, "sink.headers",
            "expected a list of strings [ \"Name: value\", ... ]");
    c->sink.headers =
        pe_xcalloc((size_t)config_setting_length(v) + 1, sizeof(char *));
    for (int i = 0; i < config_setting_length(v); i++) {
        const config_setting_t *h = config_setting_get_elem(v, (unsigned)i);

        if (config_setting_type(h) != CONFIG_TYPE_STRING ||
            !header_valid(config_setting_get_string(h)))
            return pe_cfg_fail(r, h, "sink.headers",
                               "entry %d is not a \"Name: value\" header",
                               i + 1);
        c->sink.headers[c->sink.n_headers++] =
            pe_xstrdup(config_setting_get_string(h));
    }
    return PE_OK;
}

/* Checks a base URL (and drops trailing slashes). */
static enum pe_status check_url(struct pe_cfg_reader *r,
                                const config_setting_t *g, const char *key,
                                char *url)
{
    const config_setting_t *at = config_setting_get_member(g, key + 5);
    size_t n = strlen(url), scheme;

    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return pe_cfg_fail(r, at ? at : g, key,
                           "must start with https:// (or http:// for a local "
                           "endpoint)");
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    scheme = url[4] == 's' ? 8 : 7;
    if (n <= scheme || url[scheme] == ':' || url[scheme] == '/')
        return pe_cfg_fail(r, at ? at : g, key, "has no host name");
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '?' || *q == '#')
            return pe_cfg_fail(r, at ? at : g, key,
                               "must not contain spaces, control characters, a "
                               "query or a fragment");
    return PE_OK;
}

/* Where records go: the REST proxy's invoke URL, or a Kinesis region and
 * endpoint.  Either way the base URL ends up in sink.invoke_url. */
static enum pe_status read_sink_target(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       struct pe_config *c)
{
    int kind;
    enum pe_status st;

    if ((st = pe_cfg_choice(r, g, "sink.", "kind", "rest_proxy", "rest_proxy",
                            "kinesis", &kind)) != PE_OK)
        return st;
    c->sink.kind = kind == 0 ? PE_SINK_REST_PROXY : PE_SINK_KINESIS;
    if (c->sink.kind == PE_SINK_REST_PROXY) {
        if (config_setting_get_member(g, "endpoint") != NULL ||
            config_setting_get_member(g, "region") != NULL)
            return pe_cfg_fail(
                r, g, "sink.endpoint",
                "endpoint and region are for kind = \"kinesis\"");
        if ((st = pe_cfg_string(r, g, "sink.", "invoke_url", true, NULL,
                                &c->sink.invoke_url)) != PE_OK)
            return st;
        return check_url(r, g, "sink.invoke_url", c->sink.invoke_url);
    }
    if (config_setting_get_member(g, "invoke_url") != NULL)
        return pe_cfg_fail(r, config_setting_get_member(g, "invoke_url"),
                           "sink.invoke_url",
                           "is for the REST proxy; kind = \"kinesis\" uses "
                           "region and endpoint");
    if ((st = pe_cfg_string(r, g, "sink.", "region", true, NULL,
                            &c->sink.region)) != PE_OK ||
        (st = pe_cfg_string(r, g, "sink.", "endpoint", false, NULL,
                            &c->sink.invoke_url)) != PE_OK)
        return st;
    for (const char *p = c->sink.region; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return pe_cfg_fail(r, config_setting_get_member(g, "region"),
                               "sink.region", "\"%s\" is not a region name",
                               c->sink.region);
    if (c->sink.invoke_url == NULL)
        c->sink.invoke_url =
            pe_xasprintf("https://kinesis.%s.amazonaws.com", c->sink.region);
    return check_url(r, g, "sink.endpoint", c->sink.invoke_url);
}

/* sink.retry: how often and how patiently a batch is resent. */
static enum pe_status read_sink_retry(struct pe_cfg_reader *r,
                                      const config_setting_t *g,
                                      struct pe_config *c)
{
    static const char *const rty[] = {"max_attempts", "initial_backoff_ms",
                                      "max_backoff_ms", "max_retry_after_ms",
                                      NULL};
    const config_setting_t *g_rty;
    enum pe_status st;

    if ((st = pe_cfg_section(r, g, "sink.", "retry", rty, &g_rty)) != PE_OK ||
        (st = pe_cfg_long(r, g_rty, "sink.retry.", "max_attempts", 8, 1, 1000,
                          &c->sink.retry.max_attempts)) != PE_OK ||
        (st = pe_cfg_long(r, g_rty, "sink.retry.", "initial_backoff_ms", 200, 1,
                          3600000, &c->sink.retry.initial_backoff_ms)) !=
            PE_OK ||
        (st = pe_cfg_long(r, g_rty, "sink.retry.", "max_backoff_ms", 30000, 1,
                          3600000, &c->sink.retry.max_backoff_ms)) != PE_OK ||
        (st = pe_cfg_long(r, g_rty, "sink.retry.", "max_retry_after_ms", 300000,
                          0, 86400000, &c->sink.retry.max_retry_after_ms)) !=
            PE_OK)
        return st;
    return PE_OK;
}

/* sink.aws_sigv4: sign requests (the Authorization header). */
static enum pe_status read_sink_sigv4(struct pe_cfg_reader *r,
                                      const config_setting_t *g,
                                      struct pe_config *c)
{
    static const char *const sig[] = {"region", "service", NULL};
    const config_setting_t *g_sig;
    enum pe_status st;

    if ((st = pe_cfg_section(r, g, "sink.", "aws_sigv4", sig, &g_sig)) !=
            PE_OK ||
        g_sig == NULL)
        return st;
    if ((st = pe_cfg_string(r, g_sig, "sink.aws_sigv4.", "region", true, NULL,
                            &c->sink.sigv4_region)) != PE_OK ||
        (st = pe_cfg_string(r, g_sig, "sink.aws_sigv4.", "service", false,
                            "execute-api", &c->sink.sigv4_service)) != PE_OK)
        return st;
    if (c->sink.basic_auth_env != NULL)
        return pe_cfg_fail(r, g_sig, "sink.aws_sigv4",
                           "cannot be combined with basic_auth_env (both use "
                           "the Authorization header)");
    return PE_OK;
}

enum pe_status pe_config_read_sink(struct pe_cfg_reader *r,
                                   const config_setting_t *g,
                                   struct pe_config *c)
{
    static const char *const snk[] = {"invoke_url",
                                      "timeout_ms",
                                      "connect_timeout_ms",
                                      "ca_file",
                                      "max_record_bytes",
                                      "max_in_flight",
                                      "max_in_flight_bytes",
                                      "retry",
                                      "client_cert",
                                      "client_key",
                                      "insecure",
                                      "api_key_env",
                                      "basic_auth_env",
                                      "aws_sigv4",
                                      "headers",
                                      "kind",
                                      "region",
                                      "endpoint",
                                      NULL};
    enum pe_status st;

    if ((st = pe_cfg_members(r, g, "sink.", snk)) != PE_OK ||
        (st = read_sink_target(r, g, c)) != PE_OK ||
        (st = pe_cfg_long(r, g, "sink.", "timeout_ms", 35000, 100, 3600000,
                          &c->sink.timeout_ms)) != PE_OK ||
        (st = pe_cfg_long(r, g, "sink.", "connect_timeout_ms", 10000, 100,
                          600000, &c->sink.connect_timeout_ms)) != PE_OK ||
        (st = pe_cfg_string(r, g, "sink.", "ca_file", false, NULL,
                            &c->sink.ca_file)) != PE_OK)
        return st;
    /* 1 MiB is the proxy producer's max.request.size; keep room for
     * Kafka's own record overhead. */
    /* Kinesis counts data plus partition key against exactly 1 MiB. */
    if ((st = pe_cfg_long(r, g, "sink.", "max_record_bytes",
                          c->sink.kind == PE_SINK_KINESIS ? 1048576 : 1047552,
                          1024, 100000000, &c->sink.max_record_bytes)) !=
            PE_OK ||
        (st = pe_cfg_long(r, g, "sink.", "max_in_flight", 40, 1, 64,
                          &c->sink.max_in_flight)) != PE_OK ||
        (st = pe_cfg_long(r, g, "sink.", "max_in_flight_bytes", 16777216,
                          65536, 1073741824,
                          &c->sink.max_in_flight_bytes)) != PE_OK ||
        (st = read_sink_retry(r, g, c)) != PE_OK ||
        (st = read_sink_access(r, g, c)) != PE_OK)
        return st;
    return read_sink_sigv4(r, g, c);
}

enum pe_status pe_config_check_backoff(struct pe_cfg_reader *r,
                                       const config_setting_t *g,
                                       const struct pe_config *c)
{
    if (c->sink.retry.max_backoff_ms < c->sink.retry.initial_backoff_ms)
        return pe_cfg_fail(
            r,
            config_setting_get_member(config_setting_get_member(g, "retry"),
                                      "max_backoff_ms"),
            "sink.retry.max_backoff_ms",
            "must not be below initial_backoff_ms (%ld)",
            c->sink.retry.initial_backoff_ms);
    return PE_OK;
}
