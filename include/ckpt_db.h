/* SPDX-License-Identifier: MIT
 * ckpt_db.h - the database checkpoint store: checkpoints as rows (stream,
 * shard, state jsonb) of a table in the source database, shared by every
 * instance of a scaled-out run. */
#ifndef PINEMIT_CKPT_DB_H
#define PINEMIT_CKPT_DB_H

#include <stdbool.h>

#include "util.h"

struct pe_ckpt_store;

/* Opens the store on `table` ("schema.table"), each save in a short
 * transaction of its own on a connection of the store's.  With create,
 * makes the table (and schema) when missing; PE_ERR_CONFIG naming the
 * table when it is missing and the role may not create it.  The store is
 * shared (pe_ckpt_shared): its lock is a no-op, runs coordinate by the
 * source's advisory locks. */
struct pe_ckpt_store *pe_ckpt_open_db(const char *conninfo, long timeout_s,
                                      const char *table, bool create,
                                      struct pe_error *err);

#endif
