/* SPDX-License-Identifier: MIT
 * fuzz_deadletter.c - libFuzzer target: one line of a dead-letter file,
 * parsed, its record checked for both sinks, written again and read back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "deadletter.h"
#include "util.h"
#include "fuzz.h"

static char path[] = "/tmp/fuzz_deadletter.XXXXXX";

/* A REST record the check accepts goes into a body the proxy reads as one
 * record: an object with "value". */
static void check_rest_oracle(const struct pe_dead_letter *d)
{
    struct pe_buf body;
    cJSON *j, *recs;

    pe_buf_init(&body, 0);
    pe_buf_puts(&body, "{\"records\":[");
    pe_buf_append(&body, d->record, d->record_len);
    pe_buf_puts(&body, "]}");
    j = cJSON_Parse(body.data);
    recs = cJSON_GetObjectItemCaseSensitive(j, "records");
    CHECK(cJSON_GetArraySize(recs) == 1);
    CHECK(cJSON_IsObject(cJSON_GetArrayItem(recs, 0)));
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recs, 0),
                                           "value") != NULL);
    cJSON_Delete(j);
    pe_buf_cleanup(&body);
}

/* The letter written by pe_dlq_write parses back to the same letter, and
 * the file is one whole line. */
static void check_round_trip(const struct pe_dead_letter *d)
{
    struct pe_dlq *q;
    struct pe_dead_letter back;
    struct pe_error err;
    struct pe_buf file;
    char chunk[4096];
    size_t n;
    FILE *f;

    CHECK(truncate(path, 0) == 0);
    q = pe_dlq_new(path);
    CHECK(pe_dlq_write(q, d, &err) == PE_OK);
    CHECK(pe_dlq_repaired(q) == 0);
    pe_dlq_free(q);
    pe_buf_init(&file, 0);
    f = fopen(path, "r");
    CHECK(f != NULL);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        pe_buf_append(&file, chunk, n);
    fclose(f);
    CHECK(file.len > 0 && file.data[file.len - 1] == '\n');
    CHECK(memchr(file.data, '\n', file.len) == file.data + file.len - 1);
    CHECK(pe_dlq_parse_line(file.data, &back, &err) == PE_OK);
    CHECK(strcmp(back.stream, d->stream) == 0);
    CHECK(strcmp(back.topic, d->topic) == 0);
    CHECK(strcmp(back.key, d->key) == 0);
    CHECK(strcmp(back.message, d->message) == 0);
    CHECK(back.error_code == d->error_code);
    CHECK(back.record_len == d->record_len);
    CHECK(memcmp(back.record, d->record, d->record_len) == 0);
    pe_buf_cleanup(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct pe_dead_letter d;
    struct pe_error err;
    char *line;
    size_t counted;
    enum pe_status rest, kin;

    if (!ready) {
        int fd = mkstemp(path);

        CHECK(fd >= 0);
        close(fd);
        ready = 1;
    }
    if (memchr(data, '\n', size) != NULL || memchr(data, '\0', size) != NULL)
        return 0; /* getline would hand over one line, without NUL */
    line = malloc(size + 1);
    CHECK(line != NULL);
    memcpy(line, data, size);
    line[size] = '\0';
    if (pe_dlq_parse_line(line, &d, &err) != PE_OK) {
        CHECK(err.status == PE_ERR_DATA);
        free(line);
        return 0;
    }
    CHECK(d.record >= line && d.record + d.record_len <= line + size);
    rest = pe_dlq_check_record(&d, PE_DLQ_REST, &counted, &err);
    CHECK(rest == PE_OK || rest == PE_ERR_DATA);
    if (rest == PE_OK) {
        CHECK(counted == d.record_len);
        check_rest_oracle(&d);
    } else {
        CHECK(strncmp(err.msg, "record", 6) == 0);
    }
    kin = pe_dlq_check_record(&d, PE_DLQ_KINESIS, &counted, &err);
    CHECK(kin == PE_OK || kin == PE_ERR_DATA);
    CHECK(kin != PE_OK || counted <= d.record_len);
    CHECK(!(kin == PE_OK && rest == PE_OK)); /* their members differ */
    check_round_trip(&d);
    free(line);
    return 0;
}
