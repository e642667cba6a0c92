/* SPDX-License-Identifier: MIT
 * ckpt_file.h - the file checkpoint store: one small JSON file per stream
 * (or shard) under state.dir, replaced atomically, and the run lock
 * (state.dir/pinemit.lock, flock) that keeps two runs apart. */
#ifndef PINEMIT_CKPT_FILE_H
#define PINEMIT_CKPT_FILE_H

#include <stdbool.h>

#include "util.h"

struct pe_ckpt_store;

/* Opens the file store in `dir`.  With `create`, makes the directory
 * (mode 0750) when missing.  Files are "<stream>.checkpoint", or
 * "<stream>.<shard>.checkpoint" when a stream is split in shards; each is
 * replaced by temp file, fsync, rename, fsync of the directory, so readers
 * see the old or the new one.  The lock waits up to wait_ms (0: not at
 * all) unless *stop becomes set; PE_ERR_LOCKED names the holder's pid.
 * The kernel releases the lock when the holder dies.  `check` probes the
 * directory through pe_ckpt_check (checkpoint.h): it exists and is
 * writable, or its parent is. */
struct pe_ckpt_store *pe_ckpt_open(const char *dir, bool create,
                                   struct pe_error *err);

#endif
