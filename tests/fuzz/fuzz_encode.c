/* SPDX-License-Identifier: MIT
 * fuzz_encode.c - libFuzzer target: rows of 1-4 columns of every kind,
 * arrays included, through pe_encode_record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "encode.h"
#include "util.h"
#include "fuzz.h"


#define MAX_COLS 4
#define N_KINDS 7 /* PE_J_STRING .. PE_J_ARRAY */
#define PREFIX "{\"value\":{\"earlier\":1}}"

/* Input layout:
 *   byte 0   bits 0-1: columns - 1; bit 2: capped buffer; bit 3: the
 *            buffer already holds an earlier record
 *   byte 1   bit i: column i is SQL NULL
 *   byte 2   cap = content before + 1 + 4 * byte 2 (when capped)
 *   byte 3   separator between the column values below
 *   then two bytes per column: kind % 7; elem % 7, bit 7 picks ';' as
 *   the array delimiter instead of ','
 *   then the values, split on the separator (missing ones are ""). */
struct row {
    size_t ncols;
    struct pe_column cols[MAX_COLS];
    char *values[MAX_COLS];
    int capped, prefixed;
    size_t cap_extra;
};

static const char *const names[MAX_COLS] = {"c0", "c1", "c2", "c3"};

/* RFC 8259's number grammar, written out again for the cross-check. */
static int number_oracle(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (*s >= '0' && *s <= '9')
            s++;
    } else {
        return 0;
    }
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static char *dup_range(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1); /* exact size: ASan sees over-reads */

    CHECK(s != NULL);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int decode(const uint8_t *data, size_t size, struct row *r)
{
    const uint8_t *p, *end = data + size;
    uint8_t sep;

    if (size < 4)
        return -1;
    memset(r, 0, sizeof(*r));
    r->ncols = (size_t)(data[0] & 3) + 1;
    r->capped = (data[0] & 4) != 0;
    r->prefixed = (data[0] & 8) != 0;
    r->cap_extra = 1 + 4 * (size_t)data[2];
    sep = data[3];
    if (size < 4 + 2 * r->ncols)
        return -1;
    for (size_t i = 0; i < r->ncols; i++) {
        uint8_t k = data[4 + 2 * i], e = data[5 + 2 * i];

        r->cols[i].name = names[i];
        r->cols[i].kind = (enum pe_jkind)(k % N_KINDS);
        r->cols[i].elem = (enum pe_jkind)((e & 0x7f) % N_KINDS);
        r->cols[i].delim = (e & 0x80) ? ';' : ',';
    }
    p = data + 4 + 2 * r->ncols;
    for (size_t i = 0; i < r->ncols; i++) {
        const uint8_t *q = p;

        if (i + 1 < r->ncols)
            while (q < end && *q != sep)
                q++;
        else
            q = end;
        if (data[1] & (1u << i))
            r->values[i] = NULL;
        else
            r->values[i] = dup_range(p, (size_t)(q - p));
        p = q < end ? q + 1 : end;
    }
    return 0;
}

/* PE_J_JSON text is embedded unchecked by design (PostgreSQL vouches for
 * json/jsonb); every other kind must give valid JSON. */
static int must_be_valid(const struct row *r)
{
    for (size_t i = 0; i < r->ncols; i++) {
        if (r->values[i] == NULL)
            continue;
        if (r->cols[i].kind == PE_J_JSON)
            return 0;
        if (r->cols[i].kind == PE_J_ARRAY && r->cols[i].elem == PE_J_JSON)
            return 0;
    }
    return 1;
}

static void check_column(const struct pe_column *col, const char *v,
                         const cJSON *node)
{
    size_t n;
    char *want;

    CHECK(node != NULL && node->string != NULL);
    CHECK(strcmp(node->string, col->name) == 0);
    if (v == NULL) {
        CHECK(cJSON_IsNull(node));
        return;
    }
    switch (col->kind) {
    case PE_J_STRING:
        CHECK(cJSON_IsString(node) && strcmp(node->valuestring, v) == 0);
        break;
    case PE_J_BOOL:
        CHECK(cJSON_IsBool(node));
        CHECK(cJSON_IsTrue(node) == (v[0] == 't'));
        break;
    case PE_J_NUMBER:
        if (number_oracle(v))
            CHECK(cJSON_IsNumber(node));
        else
            CHECK(cJSON_IsString(node) && strcmp(node->valuestring, v) == 0);
        break;
    case PE_J_TIMESTAMP:
        /* The first space becomes 'T'; nothing else changes. */
        want = strdup(v);
        CHECK(want != NULL);
        if (strchr(want, ' ') != NULL)
            *strchr(want, ' ') = 'T';
        CHECK(cJSON_IsString(node) && strcmp(node->valuestring, want) == 0);
        free(want);
        break;
    case PE_J_TIMESTAMPTZ:
        /* As above, and at most ":00" added to the zone. */
        CHECK(cJSON_IsString(node));
        n = strlen(v);
        CHECK(strlen(node->valuestring) == n ||
              strlen(node->valuestring) == n + 3);
        if (strchr(v, ' ') == NULL)
            CHECK(strcmp(node->valuestring, v) == 0);
        break;
    case PE_J_ARRAY:
        CHECK(cJSON_IsArray(node));
        break;
    default:
        break;
    }
}

/* The appended record parses as {"value":{c0..cN}} with what each kind
 * promises. */
static void check_record(const struct row *r, const char *text)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
    const cJSON *value, *node;
    size_t i = 0;

    if (doc == NULL) {
        fprintf(stderr, "check failed: encoder output is not JSON: %s\n", text);
        abort();
    }
    CHECK(cJSON_IsObject(doc) && cJSON_GetArraySize(doc) == 1);
    value = cJSON_GetObjectItemCaseSensitive(doc, "value");
    CHECK(cJSON_IsObject(value));
    CHECK((size_t)cJSON_GetArraySize(value) == r->ncols);
    cJSON_ArrayForEach(node, value)
    {
        check_column(&r->cols[i], r->values[i], node);
        i++;
    }
    cJSON_Delete(doc);
}

static int has_array(const struct row *r)
{
    for (size_t i = 0; i < r->ncols; i++)
        if (r->cols[i].kind == PE_J_ARRAY && r->values[i] != NULL)
            return 1;
    return 0;
}

static void encode_into(const struct row *r, struct pe_buf *b, size_t cap,
                        enum pe_status *st, struct pe_error *err)
{
    pe_buf_init(b, cap);
    if (r->prefixed)
        CHECK(pe_buf_puts(b, PREFIX) == PE_OK);
    pe_error_clear(err);
    *st = pe_encode_record(r->cols, r->ncols, (const char *const *)r->values, b,
                           err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct row r;
    struct pe_buf full, capped;
    struct pe_error err;
    enum pe_status st, st_cap;
    size_t before, cap;

    if (decode(data, size, &r) != 0)
        return 0;
    for (size_t i = 0; i < r.ncols; i++)
        if (r.values[i] != NULL)
            CHECK(pe_json_is_number(r.values[i]) == number_oracle(r.values[i]));

    before = r.prefixed ? strlen(PREFIX) : 0;
    encode_into(&r, &full, 0, &st, &err);
    CHECK(st == PE_OK || st == PE_ERR_DATA);
    if (st == PE_OK) {
        CHECK(full.len > before && full.data[full.len] == '\0');
        CHECK(strlen(full.data) == full.len);
        CHECK(memcmp(full.data, PREFIX, before) == 0);
        if (must_be_valid(&r))
            check_record(&r, full.data + before);
    } else {
        CHECK(err.status == st);
        CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        /* Only array text can be malformed. */
        CHECK(has_array(&r));
        /* Refused: the buffer is as it was. */
        CHECK(full.len == before);
        CHECK(before == 0 || strcmp(full.data, PREFIX) == 0);
    }

    if (r.capped) {
        cap = before + r.cap_extra;
        encode_into(&r, &capped, cap, &st_cap, &err);
        if (st == PE_ERR_DATA) {
            CHECK(st_cap == PE_ERR_DATA);
        } else if (full.len <= cap) {
            CHECK(st_cap == PE_OK);
            CHECK(capped.len == full.len);
            CHECK(memcmp(capped.data, full.data, full.len) == 0);
        } else {
            CHECK(st_cap == PE_ERR_TOO_LARGE && err.status == st_cap);
        }
        if (st_cap != PE_OK) {
            CHECK(capped.len == before);
            CHECK(before == 0 || strcmp(capped.data, PREFIX) == 0);
        }
        CHECK(capped.len <= cap);
        pe_buf_cleanup(&capped);
    }
    pe_buf_cleanup(&full);
    for (size_t i = 0; i < r.ncols; i++)
        free(r.values[i]);
    return 0;
}
