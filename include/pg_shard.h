/* SPDX-License-Identifier: MIT
 * pg_shard.h - private to the source files (pg_pages.c, pg_table.c): the
 * shard expression, the key types a shard_chunk needs, and the conditions
 * a shard's pages read through its shard index.  The index itself is
 * source_pg.h's (pe_table_shard_index). */
#ifndef PINEMIT_PG_SHARD_H
#define PINEMIT_PG_SHARD_H

#include "source_pg.h"
#include "source_pg_int.h"

/* The shard of a row: (hashtextextended(key::text, 0) &
 * 9223372036854775807) % nshards, or with chunk > 1 the same hash of
 * (key / chunk)::text, so runs of chunk consecutive integer keys share a
 * shard.  As the statements and the shard index spell it (caller frees). */
char *pe_shard_expr(const char *qkey, long nshards, long chunk);
/* chunk > 1 needs a key of one int2, int4 or int8 column: PE_ERR_CONFIG
 * naming chunk_at ("FILE:LINE: streams.NAME.shard_chunk"), the key and
 * its type otherwise.  t's key fields must be set. */
enum pe_status pe_shard_check_key(const struct pe_table *t, long chunk,
                                  const char *chunk_at, struct pe_error *err);
/* The first page's condition, the next pages' (cursor $1) and their
 * ORDER BY for shard `shard` read through the shard index on
 * ((expr), qkey); the caller frees out[0..2]. */
void pe_shard_page_sql(const char *expr, const char *qkey, long shard,
                       char *out[3]);

#endif
