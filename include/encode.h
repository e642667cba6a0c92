/* SPDX-License-Identifier: MIT
 * encode.h - a row's text values -> one REST v2 record, {"value":{...}}.
 * Pure: no database, no network.  Each column's JSON equals PostgreSQL's
 * to_json(column) for a session with TimeZone=UTC, DateStyle=ISO,
 * IntervalStyle=postgres, bytea_output=hex, extra_float_digits=1. */
#ifndef PINEMIT_ENCODE_H
#define PINEMIT_ENCODE_H

#include <stddef.h>

#include "util.h"

/* How a column's text turns into JSON (PostgreSQL's own categories). */
enum pe_jkind {
    PE_J_STRING = 0,  /* any other type: its text as a JSON string */
    PE_J_NUMBER,      /* int2/4/8, float4/8, numeric: raw digits, else string */
    PE_J_BOOL,        /* "t"/"f" -> true/false */
    PE_J_JSON,        /* json, jsonb: embedded as is */
    PE_J_TIMESTAMP,   /* "2020-01-02 03:04:05" -> "2020-01-02T03:04:05" */
    PE_J_TIMESTAMPTZ, /* as above, and "+00" -> "+00:00" */
    PE_J_ARRAY        /* "{...}" -> JSON array of elem kind */
};

struct pe_column {
    const char *name;
    enum pe_jkind kind;
    enum pe_jkind elem; /* for PE_J_ARRAY: the element kind */
    char delim;         /* for PE_J_ARRAY: element delimiter, usually ',' */
};

/* Appends {"value":{"col":...,...}} to out.  values[i] is column i's text,
 * NULL for SQL NULL.  On PE_ERR_DATA (malformed array text) or
 * PE_ERR_TOO_LARGE (out's cap) out is left as it was. */
enum pe_status pe_encode_record(const struct pe_column *cols, size_t ncols,
                                const char *const *values, struct pe_buf *out,
                                struct pe_error *err);

/* The same with a record key: {"key":<column key_col's JSON>,"value":...}
 * (key_col < 0: no key, as pe_encode_record). */
enum pe_status pe_encode_record_keyed(const struct pe_column *cols,
                                      size_t ncols, const char *const *values,
                                      long key_col, struct pe_buf *out,
                                      struct pe_error *err);

/* Only the value object, {"col":...,...} (the Kinesis record's data). */
enum pe_status pe_encode_value(const struct pe_column *cols, size_t ncols,
                               const char *const *values, struct pe_buf *out,
                               struct pe_error *err);

/* True when s is a JSON number as RFC 8259 defines it. */
int pe_json_is_number(const char *s);

#endif
