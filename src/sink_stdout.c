/* SPDX-License-Identifier: MIT
 * sink_stdout.c - the dry run as a backend: each batch body, framed and
 * encoded as the configured kind would send it, goes to stdout followed
 * by a newline, and every record counts as acknowledged.  It delivers
 * nothing (pe_sink_delivers is false), so callers move no checkpoint and
 * write no dead letter for it.  It must not touch the network. */
#include "sink_stdout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static enum pe_status stdout_open(struct pe_sink *s, const struct pe_config *c,
                                  struct pe_error *err)
{
    (void)s;
    (void)c;
    (void)err;
    return PE_OK; /* no secrets, no connection */
}

static enum pe_status
stdout_send(struct pe_sink *s, const char *topic, const char *body, size_t len,
            size_t n_records, struct pe_record_status *per,
            struct pe_produce_result *res, struct pe_error *err)
{
    (void)s;
    (void)topic;
    (void)n_records;
    (void)per; /* cleared by the caller: all acknowledged */
    if (fwrite(body, 1, len, stdout) != len || fputc('\n', stdout) == EOF) {
        res->outcome = PE_OUT_HTTP_ERROR;
        return pe_error_set(err, PE_ERR_IO, false, "stdout: %s",
                            strerror(errno));
    }
    res->outcome = PE_OUT_OK;
    res->http_status = 200;
    return PE_OK;
}

static enum pe_status stdout_list(struct pe_sink *s, struct pe_buf *names,
                                  struct pe_error *err)
{
    (void)s;
    (void)names;
    return pe_error_set(err, PE_ERR_USAGE, false, "a dry run lists no topics");
}

static void stdout_close(struct pe_sink *s)
{
    s->impl = NULL;
}

/* The format members are never called: pe_sink_open gives the dry run
 * the configured kind's format. */
const struct pe_sink_ops pe_sink_stdout_ops = {
    .name = "stdout",
    .open = stdout_open,
    .frame = NULL,
    .encode = NULL,
    .record_limit = NULL,
    .dlq_format = PE_DLQ_REST,
    .delivers = false,
    .send = stdout_send,
    .list_topics = stdout_list,
    .close = stdout_close,
};
