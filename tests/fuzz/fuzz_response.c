/* SPDX-License-Identifier: MIT
 * fuzz_response.c - libFuzzer target: REST proxy answers through
 * pe_response_classify and pe_response_excerpt. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "response.h"
#include "util.h"
#include "fuzz.h"


/* Statuses the proxy and API Gateway really send (rest-proxy-v2.md 4-7). */
static const long statuses[] = {200, 201, 204, 301, 400, 401, 403, 404,
                                405, 406, 408, 413, 415, 422, 429, 500,
                                502, 503, 504, 100, 299, 300, 399, 599};

/* Header: 2 bytes of status, 1 byte of record count; the rest is the body.
 * A status byte with the top bit set picks a real status from the table;
 * otherwise the 15 bits are the status (0..32767, nonsense included). */
static long status_of(const uint8_t *d)
{
    unsigned v = ((unsigned)d[0] << 8) | d[1];

    if (d[0] & 0x80)
        return statuses[d[1] % (sizeof(statuses) / sizeof(statuses[0]))];
    return (long)v;
}

static size_t records_of(uint8_t b)
{
    if (b == 0xff)
        return SIZE_MAX;
    return b % 16;
}

static void check_result(const struct pe_produce_result *r, long status,
                         size_t n_records)
{
    CHECK(r->http_status == status);
    CHECK(memchr(r->message, '\0', sizeof(r->message)) != NULL);
    CHECK(r->outcome >= PE_OUT_OK && r->outcome <= PE_OUT_HTTP_ERROR);
    CHECK(r->n_failed <= n_records);
    if (r->n_failed > 0) {
        /* BAD_RESPONSE may keep the count of the entries read before the
         * malformed one; harmless, the whole batch is resent. */
        CHECK(r->outcome == PE_OUT_RECORD_ERRORS ||
              r->outcome == PE_OUT_BAD_RESPONSE);
        CHECK(r->first_failed < n_records);
    }
    switch (r->outcome) {
    case PE_OUT_OK:
        CHECK(status == 200);
        CHECK(r->n_failed == 0 && r->error_code == 0);
        CHECK(!r->retriable && !r->maybe_written);
        break;
    case PE_OUT_RECORD_ERRORS:
        CHECK(status == 200 || status == 401 || status == 403);
        CHECK(r->n_failed > 0 || status != 200);
        if (status != 200)
            CHECK(!r->retriable);
        break;
    case PE_OUT_BAD_RESPONSE:
        CHECK((status >= 200 && status < 300) || status == 401 ||
              status == 403);
        CHECK(r->maybe_written);
        CHECK(r->retriable == (status != 401 && status != 403));
        break;
    case PE_OUT_GATEWAY_ERROR:
        CHECK(status >= 400);
        CHECK(r->n_failed == 0);
        break;
    case PE_OUT_PROXY_ERROR:
        /* response.h: a 2xx that is not a produce answer is BAD_RESPONSE
         * (the proxy took the request, so records may be in Kafka). */
        CHECK(status < 200 || status >= 300);
        CHECK(r->n_failed == 0);
        break;
    case PE_OUT_HTTP_ERROR:
        CHECK(status < 200 || status >= 300);
        CHECK(r->n_failed == 0);
        break;
    }
    CHECK(pe_outcome_name(r->outcome) != NULL);
}

/* The excerpt written out again: valid UTF-8 (invalid bytes become
 * U+FFFD, a character is never cut), control bytes become spaces, at most
 * max - 1 bytes, "(empty)" for nothing when it fits; a valid body that
 * fits comes out byte for byte but for its control bytes. */
static void check_excerpt(const char *body, size_t len, size_t max)
{
    char *out = malloc(max ? max : 1);
    size_t n;

    CHECK(out != NULL);
    if (max == 0) {
        out[0] = 'x';
        pe_response_excerpt(body, len, out, 0);
        CHECK(out[0] == 'x'); /* nothing written */
        free(out);
        return;
    }
    pe_response_excerpt(body, len, out, max);
    n = strlen(out);
    CHECK(n < max);
    CHECK(pe_utf8_valid(out, n));
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
    if (len == 0) {
        CHECK(strcmp(out, max > 8 ? "(empty)" : "") == 0);
    } else if (len < max && memchr(body, '\0', len) == NULL &&
               pe_utf8_valid(body, len)) {
        CHECK(n == len);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)body[i];
            char exp = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;

            CHECK(out[i] == exp);
        }
    }
    free(out);
}

/* What the fast path's yes must mean, read by cJSON on its own: an
 * object whose "offsets" holds n objects, each with an integer offset and
 * a null or absent error_code. */
static int acked_by_cjson(const char *body, size_t len, size_t n)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(doc, "offsets");
    const cJSON *e;
    int ok = cJSON_IsObject(doc) && cJSON_IsArray(offsets) &&
             (size_t)cJSON_GetArraySize(offsets) == n;

    cJSON_ArrayForEach(e, offsets)
    {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "error_code");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "offset");

        ok = ok && cJSON_IsObject(e) && (code == NULL || cJSON_IsNull(code)) &&
             cJSON_IsNumber(off) && off->valuedouble > -9.2e18 &&
             off->valuedouble < 9.2e18 &&
             off->valuedouble == (double)(long long)off->valuedouble;
    }
    cJSON_Delete(doc);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pe_produce_result r1, r2;
    long status;
    size_t n_records, len;
    char *body;

    if (size < 3)
        return 0;
    status = status_of(data);
    n_records = records_of(data[2]);
    len = size - 3;
    /* An exact-size copy with no NUL: ASan sees any read past the end. */
    body = malloc(len ? len : 1);
    CHECK(body != NULL);
    memcpy(body, data + 3, len);

    /* The fast path never says yes where cJSON would say no. */
    if (pe_response_all_acked(body, len, n_records))
        CHECK(acked_by_cjson(body, len, n_records));

    memset(&r1, 0xa5, sizeof(r1));
    pe_response_classify(status, body, len, n_records, &r1);
    check_result(&r1, status, n_records);
    /* Every byte is set, whatever was there before. */
    memset(&r2, 0x5a, sizeof(r2));
    pe_response_classify(status, body, len, n_records, &r2);
    CHECK(memcmp(&r1, &r2, sizeof(r1)) == 0);

    /* No body at all: the sink passes NULL for an empty answer. */
    pe_response_classify(status, NULL, 0, n_records, &r2);
    check_result(&r2, status, n_records);
    CHECK(r2.outcome != PE_OUT_OK);

    /* Per-record statuses agree with the summary, and own their text. */
    if (n_records <= 16) {
        struct pe_record_status per[16];
        size_t failed = 0;

        memset(per, 0, sizeof(per));
        pe_response_classify_records(status, body, len, n_records, per, &r2);
        CHECK(memcmp(&r1, &r2, sizeof(r1)) == 0);
        for (size_t i = 0; i < n_records; i++) {
            if (per[i].code != 0) {
                failed++;
                CHECK(per[i].message != NULL);
            }
        }
        if (r1.outcome == PE_OUT_OK)
            CHECK(failed == 0);
        if (r1.outcome == PE_OUT_RECORD_ERRORS && r1.n_failed > 0) {
            CHECK(failed == r1.n_failed);
            CHECK(per[r1.first_failed].code == r1.error_code);
            for (size_t i = 0; i < r1.first_failed; i++)
                CHECK(per[i].code == 0);
        }
        pe_record_status_clear(per, n_records);
        for (size_t i = 0; i < n_records; i++)
            CHECK(per[i].message == NULL && per[i].code == 0);
    }

    check_excerpt(body, len, data[2]);
    check_excerpt(body, len, sizeof(r1.message));
    free(body);
    return 0;
}
