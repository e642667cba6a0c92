/* SPDX-License-Identifier: MIT
 * ckpt_format.c - the checkpoint's JSON text: parse and print, pure.
 * Owns the format (members, versions, xids as strings); must not touch a
 * file, a database or a lock: the stores hand it text and take text back.
 * A checkpoint is a JSON object; unknown members are ignored so that later
 * versions can add state without breaking older readers. */
#include "ckpt_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

void pe_ckpt_state_cleanup(struct pe_ckpt_state *c)
{
    if (c == NULL)
        return;
    free(c->key);
    free(c->low);
    free(c->sent);
    free(c->late_key);
    free(c->late_sent);
    for (size_t i = 0; i < c->n_history; i++)
        free(c->history[i].key);
    free(c->history);
    memset(c, 0, sizeof(*c));
}

/* Transaction ids are written as strings: JSON numbers go through a double
 * in most readers, and an xid8 may not fit one exactly. */
static bool parse_xid(const cJSON *v, int64_t *out)
{
    char *end;
    long long x;

    if (!cJSON_IsString(v) || v->valuestring[0] < '0' ||
        v->valuestring[0] > '9')
        return false;
    errno = 0;
    x = strtoll(v->valuestring, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = x;
    return true;
}

static cJSON *xid_string(int64_t x)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)x);
    return cJSON_CreateString(buf);
}

/* A nullable string member: absent or null -> NULL. */
static bool opt_string(const cJSON *obj, const char *name, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v))
        return false;
    *out = pe_xstrdup(v->valuestring);
    return true;
}

/* An array of xid strings into a new array. */
static bool parse_xids(const cJSON *arr, int64_t **out, size_t *n)
{
    const cJSON *e;

    *out = pe_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(int64_t));
    *n = 0;
    cJSON_ArrayForEach(e, arr)
    {
        if (!parse_xid(e, &(*out)[*n]))
            return false;
        (*n)++;
    }
    return true;
}

static bool parse_tracking(const cJSON *t, struct pe_ckpt_state *c)
{
    const cJSON *sent = cJSON_GetObjectItemCaseSensitive(t, "sent_xids");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(t, "history");
    const cJSON *late = cJSON_GetObjectItemCaseSensitive(t, "late_sent_xids");
    const cJSON *e;
    size_t i = 0;

    if (!parse_xid(cJSON_GetObjectItemCaseSensitive(t, "floor"), &c->floor) ||
        !opt_string(t, "low", &c->low) || !cJSON_IsArray(sent) ||
        !cJSON_IsArray(hist) || !parse_xids(sent, &c->sent, &c->n_sent) ||
        !opt_string(t, "late_key", &c->late_key) ||
        (late != NULL && (!cJSON_IsArray(late) ||
                          !parse_xids(late, &c->late_sent, &c->n_late_sent))))
        return false;
    c->history = pe_xcalloc((size_t)cJSON_GetArraySize(hist) + 1,
                            sizeof(*c->history));
    cJSON_ArrayForEach(e, hist)
    {
        struct pe_ckpt_history *h = &c->history[i];

        c->n_history = ++i;
        if (!parse_xid(cJSON_GetObjectItemCaseSensitive(e, "xmax"), &h->xmax) ||
            !opt_string(e, "key", &h->key))
            return false;
    }
    c->tracked = true;
    return true;
}

/* "updated_at" (YYYY-MM-DDTHH:MM:SSZ, as printed below) as Unix time; 0
 * when absent or not in that form: it is for the operator's eyes only. */
static int64_t parse_updated(const cJSON *doc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "updated_at");
    struct tm tm;
    char z = 0;

    memset(&tm, 0, sizeof(tm));
    if (!cJSON_IsString(v) ||
        sscanf(v->valuestring, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year,
               &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
               &z) != 7 ||
        z != 'Z')
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* "shards" and "shard_chunk": absent (0), or whole numbers from 1. */
static bool parse_shards(const cJSON *doc, struct pe_ckpt_state *c)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "shards");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "shard_chunk");

    if (n == NULL)
        return true;
    if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 1e9 ||
        n->valuedouble != (double)(long)n->valuedouble ||
        (k != NULL &&
         (!cJSON_IsNumber(k) || k->valuedouble < 1 || k->valuedouble > 1e12 ||
          k->valuedouble != (double)(long)k->valuedouble)))
        return false;
    c->shards = (long)n->valuedouble;
    c->shard_chunk = k != NULL ? (long)k->valuedouble : 1;
    return true;
}

enum pe_status pe_ckpt_format_parse(const char *text, size_t len,
                                    const char *where,
                                    struct pe_ckpt_state *out,
                                    struct pe_error *err)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "key");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "tracking");
    const char *why = NULL;
    enum pe_status st = PE_OK;

    memset(out, 0, sizeof(*out));
    /* A null key: a tracked stream that has sent nothing yet. */
    if (!(cJSON_IsString(k) || (cJSON_IsNull(k) && t != NULL)))
        why = "no \"key\" string";
    else if (t != NULL && !cJSON_IsNull(t) && !parse_tracking(t, out))
        why = "bad \"tracking\"";
    else if (!parse_shards(doc, out))
        why = "bad \"shards\" or \"shard_chunk\"";
    if (why != NULL) {
        pe_ckpt_state_cleanup(out);
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "%s: damaged checkpoint (%s); fix or remove it "
                          "by hand",
                          where, why);
    } else {
        out->key = cJSON_IsString(k) ? pe_xstrdup(k->valuestring) : NULL;
        out->updated_s = parse_updated(doc);
    }
    cJSON_Delete(doc);
    return st;
}

static cJSON *tracking_json(const struct pe_ckpt_state *c)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *sent = cJSON_AddArrayToObject(t, "sent_xids");
    cJSON *hist = cJSON_AddArrayToObject(t, "history");

    cJSON_AddItemToObject(t, "floor", xid_string(c->floor));
    if (c->late_key != NULL) {
        cJSON *late = cJSON_AddArrayToObject(t, "late_sent_xids");

        cJSON_AddStringToObject(t, "late_key", c->late_key);
        for (size_t i = 0; i < c->n_late_sent; i++)
            cJSON_AddItemToArray(late, xid_string(c->late_sent[i]));
    }
    if (c->low)
        cJSON_AddStringToObject(t, "low", c->low);
    else
        cJSON_AddNullToObject(t, "low");
    for (size_t i = 0; i < c->n_sent; i++)
        cJSON_AddItemToArray(sent, xid_string(c->sent[i]));
    for (size_t i = 0; i < c->n_history; i++) {
        cJSON *h = cJSON_CreateObject();

        cJSON_AddItemToObject(h, "xmax", xid_string(c->history[i].xmax));
        if (c->history[i].key)
            cJSON_AddStringToObject(h, "key", c->history[i].key);
        else
            cJSON_AddNullToObject(h, "key");
        cJSON_AddItemToArray(hist, h);
    }
    return t;
}

char *pe_ckpt_format_print(const char *stream, const struct pe_ckpt_state *c)
{
    cJSON *doc = cJSON_CreateObject();
    char when[32], *text;
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddNumberToObject(doc, "version", c->tracked ? 2 : 1);
    cJSON_AddStringToObject(doc, "stream", stream);
    if (c->key != NULL)
        cJSON_AddStringToObject(doc, "key", c->key);
    else
        cJSON_AddNullToObject(doc, "key");
    cJSON_AddStringToObject(doc, "updated_at", when);
    if (c->shards > 1) {
        /* What a shard's rows are: a reader with other settings must not
         * take this state for its own shard's (see ckpt_format.h). */
        cJSON_AddNumberToObject(doc, "shards", (double)c->shards);
        cJSON_AddNumberToObject(doc, "shard_chunk",
                                (double)(c->shard_chunk > 1 ? c->shard_chunk
                                                            : 1));
    } else if (c->shards == 1) {
        /* Unsharded: this state holds every row up to its key, whatever
         * the split; recorded so that it tells from an old shard's. */
        cJSON_AddNumberToObject(doc, "shards", 1);
    }
    if (c->tracked)
        cJSON_AddItemToObject(doc, "tracking", tracking_json(c));
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    return text;
}
