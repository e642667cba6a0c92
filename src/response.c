/* SPDX-License-Identifier: MIT
 * response.c - REST v2 produce answers -> struct pe_produce_result. */
#include "response.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "jsonarena.h"

#include "util.h"

const char *pe_outcome_name(enum pe_outcome o)
{
    switch (o) {
    case PE_OUT_OK:
        return "ok";
    case PE_OUT_RECORD_ERRORS:
        return "record errors";
    case PE_OUT_PROXY_ERROR:
        return "proxy error";
    case PE_OUT_GATEWAY_ERROR:
        return "gateway error";
    case PE_OUT_BAD_RESPONSE:
        return "malformed response";
    default:
        return "http error";
    }
}

void pe_response_excerpt(const char *body, size_t len, char *out, size_t max)
{
    size_t o;

    if (max == 0)
        return;
    /* Valid UTF-8 (binary or gzip bodies too), cut between characters. */
    o = pe_utf8_sanitize(out, max, body ? body : "", len);
    for (size_t i = 0; i < o; i++) {
        unsigned char c = (unsigned char)out[i];

        if (c < 0x20 || c == 0x7f)
            out[i] = ' ';
    }
    if (o == 0 && max > 8)
        snprintf(out, max, "(empty)");
}

/* A per-record code.  Confluent's v2 API reference still lists 1
 * (non-retriable) and 2 (retriable); kafka-rest has sent them as 50002
 * and 50003 since 2015.  Both spellings are read. */
static long normalize_code(long code)
{
    if (code == 1)
        return 50002;
    if (code == 2)
        return 50003;
    return code;
}

/* The statuses that may be resent as they are: 429 (API Gateway's or the
 * proxy's limiter refused before Kafka), 408, and 500, 502, 503 and 504
 * (the outcome is unknown: records may have been written; at-least-once
 * sends them again). */
static bool status_retriable(long status)
{
    return status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504 || status == 408;
}

/* An answer that is not of the expected shape, classed by its status: a
 * 2xx may have written the records (resend); otherwise as
 * status_retriable says. */
static void by_status(long status, const char *body, size_t len,
                      struct pe_produce_result *r)
{
    if (status >= 200 && status < 300) {
        r->outcome = PE_OUT_BAD_RESPONSE;
        r->retriable = true;
        r->maybe_written = true;
    } else {
        r->outcome = PE_OUT_HTTP_ERROR;
        r->retriable = status_retriable(status);
        r->maybe_written = status >= 500;
    }
    /* The first 200 bytes, less a character they would cut in two. */
    pe_response_excerpt(body, pe_utf8_cut(body, len < 200 ? len : 200),
                        r->message, sizeof(r->message));
}

/* A JSON number with no fraction, within a long (no float-to-int UB). */
static bool is_integer(const cJSON *n)
{
    return cJSON_IsNumber(n) && n->valuedouble >= -9.2e18 &&
           n->valuedouble <= 9.2e18 &&
           n->valuedouble == (double)(long long)n->valuedouble;
}

void pe_record_status_clear(struct pe_record_status *per, size_t n)
{
    if (per == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(per[i].message);
        per[i].message = NULL;
        per[i].code = 0;
    }
}

/* Record i failed with code c: in per (when given) and, for the first
 * failure, in the summary. */
static void note_failure(struct pe_produce_result *r,
                         struct pe_record_status *per, size_t i, long c,
                         const char *text)
{
    if (per != NULL) {
        per[i].code = c;
        per[i].message = pe_xstrdup(text);
    }
    if (r->n_failed++ == 0) {
        r->first_failed = i;
        r->error_code = c;
        snprintf(r->message, sizeof(r->message), "%s", text);
    }
}

static void parse_offsets(const cJSON *offsets, size_t n_records,
                          struct pe_record_status *per,
                          struct pe_produce_result *r)
{
    size_t i = 0;
    const cJSON *e;
    bool all_retriable = true;

    if (!cJSON_IsArray(offsets) ||
        (size_t)cJSON_GetArraySize(offsets) != n_records) {
        r->outcome = PE_OUT_BAD_RESPONSE;
        r->retriable = true;
        r->maybe_written = true;
        snprintf(r->message, sizeof(r->message),
                 "offsets has %d entries for %zu records",
                 cJSON_IsArray(offsets) ? cJSON_GetArraySize(offsets) : -1,
                 n_records);
        return;
    }
    cJSON_ArrayForEach(e, offsets)
    {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "error_code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "error");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "offset");

        if (!cJSON_IsObject(e)) {
            r->outcome = PE_OUT_BAD_RESPONSE;
            r->retriable = true;
            r->maybe_written = true;
            snprintf(r->message, sizeof(r->message),
                     "offsets[%zu] is not an object", i);
            return;
        }
        if ((code != NULL && !cJSON_IsNull(code)) || !is_integer(off)) {
            /* -1: neither an offset nor a usable code, so not acknowledged
             * and possibly written: as retriable as a delivery timeout. */
            long c = code != NULL && !cJSON_IsNull(code) && is_integer(code)
                         ? normalize_code((long)code->valuedouble)
                         : -1;

            if (c == 0)
                c = -1; /* 0 is no error code: not an acknowledgement */
            const char *text =
                cJSON_IsString(msg) ? msg->valuestring
                : c == -1 ? "neither offset nor error_code in the answer"
                          : "(no message)";

            note_failure(r, per, i, c, text);
            /* A delivery timeout does not prove the record is absent. */
            if (c == 50003 || c == -1)
                r->maybe_written = true;
            else
                all_retriable = false;
        }
        i++;
    }
    r->retriable = r->n_failed > 0 && all_retriable;
    r->outcome = r->n_failed ? PE_OUT_RECORD_ERRORS : PE_OUT_OK;
}

void pe_response_classify(long status, const char *body, size_t len,
                          size_t n_records, struct pe_produce_result *r)
{
    pe_response_classify_records(status, body, len, n_records, NULL, r);
}

/* The fast path: a strict JSON scanner that recognises the common answer,
 * status 200 with every record acknowledged, without building a tree.
 * It says yes only when the body is valid JSON (RFC 8259, nesting up to
 * 64, no trailing text) whose top object's first "offsets" member is an
 * array of n_records objects, each with a plain integer "offset" and an
 * "error_code" that is null or absent (first members of those names).
 * Anything else (escapes in those names, an offset with a fraction or an
 * exponent, non-ASCII text) it leaves to cJSON, which decides: it never says yes where cJSON would
 * not (tests/fuzz/fuzz_response.c checks this). */
struct scan {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool lit(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* A string; *plain: no escapes in it (its bytes are its value). */
static bool scan_string(struct scan *s, const char **start, size_t *len,
                        bool *plain)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    *start = ++s->p;
    *plain = true;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p;

        if (c < 0x20 || c >= 0x80)
            return false; /* control characters; non-ASCII: cJSON's call */
        if (c == '\\') {
            *plain = false;
            if (++s->p >= s->end)
                return false;
            if (*s->p == 'u') {
                const char *hex = s->p + 1;

                for (int k = 0; k < 4; k++)
                    if (++s->p >= s->end || !isxdigit((unsigned char)*s->p))
                        return false;
                /* A surrogate (D800-DFFF): cJSON refuses a lone one. */
                if ((hex[0] == 'd' || hex[0] == 'D') &&
                    strchr("89abcdefABCDEF", hex[1]) != NULL)
                    return false;
            } else if (strchr("\"\\/bfnrt", *s->p) == NULL || *s->p == '\0') {
                return false;
            }
        }
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    *len = (size_t)(s->p - *start);
    s->p++;
    return true;
}

/* A number (RFC 8259); *integer: digits only, with an optional minus
 * sign, few enough to fit a long. */
static bool scan_number(struct scan *s, bool *integer)
{
    const char *p = s->p;

    if (p < s->end && *p == '-')
        p++;
    if (p < s->end && *p == '0')
        p++;
    else if (p < s->end && *p >= '1' && *p <= '9')
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    else
        return false;
    *integer = p - s->p <= 18;
    if (p < s->end && *p == '.') {
        *integer = false;
        if (++p >= s->end || !(*p >= '0' && *p <= '9'))
            return false;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        *integer = false;
        if (++p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || !(*p >= '0' && *p <= '9'))
            return false;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p - s->p > 63)
        return false; /* cJSON reads at most 63 characters of a number */
    s->p = p;
    return true;
}

/* A member's name and the colon after it; *plain as for scan_string. */
static bool scan_name(struct scan *s, const char **k, size_t *n, bool *plain)
{
    if (!scan_string(s, k, n, plain))
        return false;
    skip_ws(s);
    if (s->p >= s->end || *s->p++ != ':')
        return false;
    skip_ws(s);
    return true;
}

/* After a member or an element: 1 for a comma (another one follows), 0
 * for the closing bracket (taken), -1 for anything else. */
static int scan_next(struct scan *s, char close)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        skip_ws(s);
        return 1;
    }
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    return -1;
}

static bool scan_value(struct scan *s);

/* An object or array, opening bracket at s->p. */
static bool scan_container(struct scan *s)
{
    bool object = *s->p == '{';
    char close = object ? '}' : ']';
    int next;

    if (++s->depth > 64)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    do {
        const char *k;
        size_t n;
        bool plain;

        if (object && !scan_name(s, &k, &n, &plain))
            return false;
        if (!scan_value(s))
            return false;
    } while ((next = scan_next(s, close)) == 1);
    s->depth--;
    return next == 0;
}

static bool scan_value(struct scan *s)
{
    const char *k;
    size_t n;
    bool flag;

    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
    case '[':
        return scan_container(s);
    case '"':
        return scan_string(s, &k, &n, &flag);
    case 't':
        return lit(s, "true");
    case 'f':
        return lit(s, "false");
    case 'n':
        return lit(s, "null");
    default:
        return scan_number(s, &flag);
    }
}

/* One offsets entry: an object whose first "offset" is a plain integer
 * and whose first "error_code", if any, is null. */
static bool scan_entry(struct scan *s)
{
    bool seen_offset = false, seen_code = false, offset_ok = false;
    int next;

    if (s->p >= s->end || *s->p != '{' || ++s->depth > 64)
        return false;
    s->p++;
    skip_ws(s);
    do {
        const char *k;
        size_t n;
        bool plain, integer;

        if (!scan_name(s, &k, &n, &plain) || !plain)
            return false; /* (an empty entry has no offset) */
        if (n == 6 && memcmp(k, "offset", 6) == 0 && !seen_offset) {
            seen_offset = true;
            if (s->p >= s->end ||
                (*s->p != '-' && !(*s->p >= '0' && *s->p <= '9')) ||
                !scan_number(s, &integer))
                return false;
            offset_ok = integer;
        } else if (n == 10 && memcmp(k, "error_code", 10) == 0 &&
                   !seen_code) {
            seen_code = true;
            if (!lit(s, "null"))
                return false;
        } else if (!scan_value(s)) {
            return false;
        }
    } while ((next = scan_next(s, '}')) == 1);
    s->depth--;
    return next == 0 && offset_ok;
}

/* The offsets array: its entries are counted into *count. */
static bool scan_offsets(struct scan *s, size_t *count)
{
    int next;

    *count = 0;
    if (s->p >= s->end || *s->p != '[')
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    s->depth++;
    do {
        if (!scan_entry(s))
            return false;
        (*count)++;
    } while ((next = scan_next(s, ']')) == 1);
    s->depth--;
    return next == 0;
}

bool pe_response_all_acked(const char *body, size_t len, size_t n_records)
{
    struct scan s;
    bool seen_offsets = false, offsets_ok = false;
    int next;

    if (body == NULL || len == 0)
        return false;
    s.p = body;
    s.end = body + len;
    s.depth = 1;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return false;
    s.p++;
    skip_ws(&s);
    do {
        const char *k;
        size_t n, count;
        bool plain;

        if (!scan_name(&s, &k, &n, &plain) || !plain)
            return false; /* (an empty object has no offsets) */
        if (n == 7 && memcmp(k, "offsets", 7) == 0 && !seen_offsets) {
            seen_offsets = true;
            if (!scan_offsets(&s, &count))
                return false;
            offsets_ok = count == n_records;
        } else if (!scan_value(&s)) {
            return false;
        }
    } while ((next = scan_next(&s, '}')) == 1);
    skip_ws(&s);
    return next == 0 && s.p == s.end && offsets_ok;
}

/* An answer's result before it is read: nothing known but the status. */
static void result_init(struct pe_produce_result *r, long status)
{
    memset(r, 0, sizeof(*r));
    r->http_status = status;
    r->retry_after_ms = -1;
}

static void classify_rest(long status, const char *body, size_t len,
                          size_t n_records, struct pe_record_status *per,
                          struct pe_produce_result *r)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(doc, "offsets");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "error_code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");

    result_init(r, status);
    if (cJSON_IsObject(doc) && offsets != NULL &&
        (status == 200 || status == 401 || status == 403)) {
        parse_offsets(offsets, n_records, per, r);
        if (status != 200 && r->outcome == PE_OUT_OK) {
            /* 401/403 always name a failed record; be safe if not. */
            r->outcome = PE_OUT_RECORD_ERRORS;
            snprintf(r->message, sizeof(r->message), "HTTP %ld", status);
        }
        if (status != 200)
            r->retriable = false;
    } else if (cJSON_IsObject(doc) && code != NULL && status >= 300) {
        r->outcome = PE_OUT_PROXY_ERROR;
        r->error_code = is_integer(code) ? (long)code->valuedouble : 0;
        snprintf(r->message, sizeof(r->message), "%s",
                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        r->retriable = status_retriable(status);
        r->maybe_written = status >= 500;
    } else if (cJSON_IsObject(doc) && cJSON_IsString(msg) && status >= 400) {
        r->outcome = PE_OUT_GATEWAY_ERROR;
        snprintf(r->message, sizeof(r->message), "%s", msg->valuestring);
        r->retriable = status_retriable(status) || status == 413;
        r->maybe_written = status >= 500;
    } else {
        by_status(status, body, len, r);
    }
    cJSON_Delete(doc);
}

/* Request-level Kinesis errors worth another try. */
static bool kinesis_retriable(const char *type, long status)
{
    static const char *const names[] = {
        "ProvisionedThroughputExceededException", "LimitExceededException",
        "KMSThrottlingException", "InternalFailure", "ServiceUnavailable",
        "ThrottlingException", NULL};

    if (status >= 500 || status == 429)
        return true;
    for (const char *const *n = names; *n; n++)
        if (strcmp(type, *n) == 0)
            return true;
    return false;
}

static void classify_kinesis(long status, const char *body, size_t len,
                             size_t n_records, struct pe_record_status *per,
                             struct pe_produce_result *r)
{
    cJSON *doc = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(doc, "Records");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "__type");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
    const cJSON *e;
    size_t i = 0;
    bool all_retriable = true;

    result_init(r, status);
    if (msg == NULL)
        msg = cJSON_GetObjectItemCaseSensitive(doc, "Message");
    if (status == 200 && cJSON_IsArray(recs) &&
        (size_t)cJSON_GetArraySize(recs) == n_records) {
        cJSON_ArrayForEach(e, recs)
        {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "ErrorCode");
            const cJSON *emsg =
                cJSON_GetObjectItemCaseSensitive(e, "ErrorMessage");
            const cJSON *seq =
                cJSON_GetObjectItemCaseSensitive(e, "SequenceNumber");

            if (cJSON_IsString(code) || !cJSON_IsString(seq)) {
                const char *name =
                    cJSON_IsString(code) ? code->valuestring : "NoSequenceNumber";
                long c = kinesis_retriable(name, 0) ||
                                 !cJSON_IsString(code)
                             ? 50003
                             : 50002;
                char text[256];

                snprintf(text, sizeof(text), "%s: %s", name,
                         cJSON_IsString(emsg) ? emsg->valuestring : "");
                note_failure(r, per, i, c, text);
                if (c == 50003)
                    r->maybe_written = true;
                else
                    all_retriable = false;
            }
            i++;
        }
        r->outcome = r->n_failed ? PE_OUT_RECORD_ERRORS : PE_OUT_OK;
        r->retriable = r->n_failed > 0 && all_retriable;
    } else if (cJSON_IsString(type) && (status < 200 || status >= 300)) {
        /* "__type" may be "com.amazonaws...#Name" or just "Name". */
        const char *name = strrchr(type->valuestring, '#');

        name = name ? name + 1 : type->valuestring;
        r->outcome = PE_OUT_PROXY_ERROR;
        r->error_code = status;
        snprintf(r->message, sizeof(r->message), "%s: %s", name,
                 cJSON_IsString(msg) ? msg->valuestring : "");
        r->retriable = kinesis_retriable(name, status);
        r->maybe_written = status >= 500;
    } else {
        by_status(status, body, len, r);
    }
    cJSON_Delete(doc);
}

/* The answer's tree lives in this thread's arena while it is read. */
void pe_response_classify_records(long status, const char *body, size_t len,
                                  size_t n_records,
                                  struct pe_record_status *per,
                                  struct pe_produce_result *r)
{
    if (status == 200 && pe_response_all_acked(body, len, n_records)) {
        result_init(r, status);
        r->outcome = PE_OUT_OK;
        return;
    }
    pe_json_arena_begin();
    classify_rest(status, body, len, n_records, per, r);
    pe_json_arena_end();
}

void pe_kinesis_classify(long status, const char *body, size_t len,
                         size_t n_records, struct pe_record_status *per,
                         struct pe_produce_result *r)
{
    pe_json_arena_begin();
    classify_kinesis(status, body, len, n_records, per, r);
    pe_json_arena_end();
}
