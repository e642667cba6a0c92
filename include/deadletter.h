/* SPDX-License-Identifier: MIT
 * deadletter.h - records that cannot be delivered, kept as JSON lines:
 *   {"time":..,"stream":..,"topic":..,"key":..,"error_code":..,
 *    "message":..,"record":<the record as sent>}
 * "record" is always last and written byte for byte, so a replay resends
 * exactly what was rejected. */
#ifndef PINEMIT_DEADLETTER_H
#define PINEMIT_DEADLETTER_H

#include <stddef.h>
#include <stdio.h>

#include "util.h"

struct pe_dead_letter {
    const char *stream;
    const char *topic;
    const char *key;
    long error_code; /* the proxy's code, or 413 / 0 for local limits */
    const char *message;
    const char *record; /* {"value":...} */
    size_t record_len;
};

struct pe_dlq; /* opaque: an append-only file, opened on first write */

struct pe_dlq *pe_dlq_new(const char *path);
void pe_dlq_free(struct pe_dlq *q);
const char *pe_dlq_path(const struct pe_dlq *q);
/* Letters written through this handle. */
size_t pe_dlq_count(const struct pe_dlq *q);
/* Appends one line with one write(2) (O_APPEND, under flock(2) so other
 * pinemit processes wait).  The line is whole or absent: a short or failed
 * write (a full disk) is cut off again with ftruncate(2) and reported as
 * PE_ERR_IO.  When the handle first opens the file and its last byte is
 * not '\n' (a writer that died mid-line), the torn tail is cut back to the
 * last newline first: its record was never synced, so its checkpoint never
 * moved past it and it is sent or dead-lettered again.  The bytes cut are
 * not an error: pe_dlq_repaired tells them to the caller, which logs a
 * warning. */
enum pe_status pe_dlq_write(struct pe_dlq *q, const struct pe_dead_letter *d,
                            struct pe_error *err);
/* Bytes of a torn last line cut from the file by this handle (0: none). */
size_t pe_dlq_repaired(const struct pe_dlq *q);
/* fsync, so letters are durable before a checkpoint moves past them. */
enum pe_status pe_dlq_sync(struct pe_dlq *q, struct pe_error *err);

/* Parses one line of a dead-letter file.  The strings in *d point into
 * `line`, which is modified (NUL terminators); PE_ERR_DATA when it is not
 * a dead letter. */
enum pe_status pe_dlq_parse_line(char *line, struct pe_dead_letter *d,
                                 struct pe_error *err);

/* The sink a record was framed for. */
enum pe_dlq_sink { PE_DLQ_REST, PE_DLQ_KINESIS };

/* Is d->record exactly one record the sink takes as one record?  REST
 * proxy v2: one JSON object with "value" and optionally "key" and
 * "partition" (an integer 0 to 2147483647), each once, nothing else.
 * Kinesis: one JSON object with "Data" (padded base64) and "PartitionKey"
 * (1 to 256 characters), each once, nothing else.  *size gets what the
 * sink's limits count: REST the record's bytes, Kinesis the decoded Data
 * plus the PartitionKey's bytes.  PE_ERR_DATA says why not. */
enum pe_status pe_dlq_check_record(const struct pe_dead_letter *d,
                                   enum pe_dlq_sink sink, size_t *size,
                                   struct pe_error *err);

#endif
