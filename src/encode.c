/* SPDX-License-Identifier: MIT
 * encode.c - PostgreSQL text values -> cJSON -> one record's bytes. */
#include "encode.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "jsonarena.h"

/* A node that points at text it does not own (libpq's result, alive for
 * the whole encode): no copy. */
static cJSON *ref_node(int type, const char *text)
{
    cJSON *n = cJSON_CreateNull();

    if (n != NULL) {
        n->type = type | cJSON_IsReference;
        n->valuestring = (char *)(uintptr_t)text;
    }
    return n;
}

int pe_json_is_number(const char *s)
{
    const char *p = s;

    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

/* "2020-01-02 03:04:05+00" -> "2020-01-02T03:04:05+00:00": to_json's XSD
 * style puts a 'T' between date and time and always prints zone minutes. */
static char *xsd_timestamp(const char *s, int with_tz)
{
    size_t n = strlen(s);
    char *out = pe_xmalloc(n + 4);
    char *sp;

    memcpy(out, s, n + 1);
    sp = strchr(out, ' ');
    if (sp == NULL) /* infinity, -infinity */
        return out;
    *sp = 'T';
    if (with_tz) {
        /* The zone follows the time: the first sign after the 'T'. */
        char *z = strpbrk(sp + 1, "+-");

        if (z != NULL && isdigit((unsigned char)z[1]) &&
            isdigit((unsigned char)z[2]) && z[3] != ':') {
            memmove(z + 6, z + 3, strlen(z + 3) + 1);
            memcpy(z + 3, ":00", 3);
        }
    }
    return out;
}

/* One scalar value of `kind` as a cJSON node; with ref, the node may point
 * at text instead of copying it (text outlives the node). */
static cJSON *scalar(enum pe_jkind kind, const char *text, bool ref)
{
    cJSON *node;
    char *tmp;

    switch (kind) {
    case PE_J_NUMBER:
        if (pe_json_is_number(text))
            return ref ? ref_node(cJSON_Raw, text) : cJSON_CreateRaw(text);
        return cJSON_CreateString(text); /* NaN, Infinity, -Infinity */
    case PE_J_BOOL:
        return cJSON_CreateBool(text[0] == 't');
    case PE_J_JSON:
        return ref ? ref_node(cJSON_Raw, text) : cJSON_CreateRaw(text);
    case PE_J_TIMESTAMP:
    case PE_J_TIMESTAMPTZ:
        tmp = xsd_timestamp(text, kind == PE_J_TIMESTAMPTZ);
        node = cJSON_CreateString(tmp);
        free(tmp);
        return node;
    default:
        return ref ? ref_node(cJSON_String, text) : cJSON_CreateString(text);
    }
}

/* Parser state for PostgreSQL's array text format. */
struct arr {
    const char *p;
    enum pe_jkind elem;
    char delim;
    struct pe_buf item;
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* Parses one "{...}" level at a->p into a JSON array; NULL on bad text. */
static cJSON *parse_level(struct arr *a, int depth)
{
    cJSON *list;

    if (*a->p != '{' || depth > 6)
        return NULL;
    a->p++;
    list = cJSON_CreateArray();
    while (is_space(*a->p))
        a->p++;
    if (*a->p == '}') {
        a->p++;
        return list;
    }
    for (;;) {
        cJSON *node = NULL;

        while (is_space(*a->p))
            a->p++;
        if (*a->p == '{') {
            node = parse_level(a, depth + 1);
        } else {
            int quoted = *a->p == '"';

            pe_buf_reset(&a->item);
            if (quoted) {
                for (a->p++; *a->p != '\0' && *a->p != '"'; a->p++) {
                    if (*a->p == '\\' && a->p[1] != '\0')
                        a->p++;
                    pe_buf_append(&a->item, a->p, 1);
                }
                if (*a->p != '"')
                    goto bad;
                a->p++;
            } else {
                while (*a->p != '\0' && *a->p != a->delim && *a->p != '}')
                    pe_buf_append(&a->item, a->p++, 1);
                while (a->item.len > 0 && is_space(a->item.data[a->item.len - 1]))
                    pe_buf_truncate(&a->item, a->item.len - 1);
            }
            pe_buf_append(&a->item, "", 0); /* ensure data != NULL */
            if (!quoted && strcasecmp(a->item.data, "NULL") == 0)
                node = cJSON_CreateNull();
            else
                node = scalar(a->elem, a->item.data, false);
        }
        if (node == NULL)
            goto bad;
        cJSON_AddItemToArray(list, node);
        while (is_space(*a->p))
            a->p++;
        if (*a->p == a->delim) {
            a->p++;
            continue;
        }
        if (*a->p == '}') {
            a->p++;
            return list;
        }
        goto bad;
    }
bad:
    cJSON_Delete(list);
    return NULL;
}

static cJSON *parse_array(const char *text, enum pe_jkind elem, char delim)
{
    struct arr a = {text, elem, delim ? delim : ',', {NULL, 0, 0, 0}};
    cJSON *out;

    /* "[0:1]={1,2}": bounds decoration, which to_json ignores. */
    if (*a.p == '[') {
        const char *eq = strchr(a.p, '=');

        if (eq == NULL)
            return NULL;
        a.p = eq + 1;
    }
    pe_buf_init(&a.item, 0);
    out = parse_level(&a, 0);
    pe_buf_cleanup(&a.item);
    if (out != NULL && *a.p != '\0') {
        cJSON_Delete(out);
        out = NULL;
    }
    return out;
}

/* Column i's value as a cJSON node; NULL when its array text is bad. */
static cJSON *column(const struct pe_column *c, const char *value)
{
    if (value == NULL)
        return cJSON_CreateNull();
    if (c->kind == PE_J_ARRAY)
        return parse_array(value, c->elem, c->delim);
    return scalar(c->kind, value, true);
}

enum pe_status pe_encode_record(const struct pe_column *cols, size_t ncols,
                                const char *const *values, struct pe_buf *out,
                                struct pe_error *err)
{
    return pe_encode_record_keyed(cols, ncols, values, -1, out, err);
}

static enum pe_status encode(const struct pe_column *cols, size_t ncols,
                             const char *const *values, long key_col,
                             bool value_only, struct pe_buf *out,
                             struct pe_error *err);

enum pe_status pe_encode_record_keyed(const struct pe_column *cols,
                                      size_t ncols, const char *const *values,
                                      long key_col, struct pe_buf *out,
                                      struct pe_error *err)
{
    return encode(cols, ncols, values, key_col, false, out, err);
}

enum pe_status pe_encode_value(const struct pe_column *cols, size_t ncols,
                               const char *const *values, struct pe_buf *out,
                               struct pe_error *err)
{
    return encode(cols, ncols, values, -1, true, out, err);
}

static enum pe_status encode(const struct pe_column *cols, size_t ncols,
                             const char *const *values, long key_col,
                             bool value_only, struct pe_buf *out,
                             struct pe_error *err)
{
    cJSON *rec, *obj;
    enum pe_status st = PE_OK;
    size_t start = out->len, room = 64;

    pe_json_arena_begin();
    rec = cJSON_CreateObject();
    for (size_t i = 0; i < ncols; i++)
        room += 16 + strlen(cols[i].name) + (values[i] ? strlen(values[i]) : 4);

    if (key_col >= 0 && (size_t)key_col < ncols) {
        cJSON *key = column(&cols[key_col], values[key_col]);

        if (key == NULL) {
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "column \"%s\": cannot parse array value",
                              cols[key_col].name);
            goto out;
        }
        cJSON_AddItemToObjectCS(rec, "key", key);
    }
    obj = value_only ? rec : cJSON_AddObjectToObject(rec, "value");
    for (size_t i = 0; i < ncols; i++) {
        cJSON *node = column(&cols[i], values[i]);

        if (node == NULL) {
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "column \"%s\": cannot parse array value",
                              cols[i].name);
            goto out;
        }
        /* The names live in the table description: no copy. */
        cJSON_AddItemToObjectCS(obj, cols[i].name, node);
    }
    /* Print straight into out; escapes can make it larger than the
     * estimate, so grow and print again until it fits. */
    for (;;) {
        bool capped = out->cap != 0 && room > out->cap - start;

        pe_buf_reserve(out, room);
        if (cJSON_PrintPreallocated(rec, out->data + start,
                                    (int)(out->alloc - start), 0)) {
            size_t n = strlen(out->data + start);

            if (out->cap != 0 && start + n > out->cap) {
                st = pe_error_set(err, PE_ERR_TOO_LARGE, false,
                                  "record of %zu bytes does not fit", n);
                break;
            }
            out->len = start + n;
            break;
        }
        if (capped) {
            st = pe_error_set(err, PE_ERR_TOO_LARGE, false,
                              "record of over %zu bytes does not fit",
                              out->cap - start);
            break;
        }
        if (room > (size_t)INT32_MAX / 2) {
            st = pe_error_set(err, PE_ERR_DATA, false,
                              "cannot serialize record");
            break;
        }
        room *= 2;
    }
out:
    if (st != PE_OK)
        pe_buf_truncate(out, start);
    if (out->data != NULL)
        out->data[out->len] = '\0';
    pe_json_arena_end();
    return st;
}
