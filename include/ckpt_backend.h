/* SPDX-License-Identifier: MIT
 * ckpt_backend.h - what a checkpoint store backend fills in (ckpt_file.c,
 * ckpt_db.c) and what checkpoint.c dispatches on.  Only for the backends,
 * checkpoint.c and the saver: callers use checkpoint.h. */
#ifndef PINEMIT_CKPT_BACKEND_H
#define PINEMIT_CKPT_BACKEND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct pe_ckpt_store;

/* A backend stores text (ckpt_format.h) per (stream, shard); it never
 * parses or prints the state itself.  impl belongs to the backend. */
struct pe_ckpt_ops {
    /* Shared between instances (scale-out): ownership is by advisory
     * locks in the source database, not by the store's own lock. */
    bool shared;
    /* The stored text into *text and *len (caller frees); *text stays
     * NULL when there is none yet. */
    enum pe_status (*read)(void *impl, const char *stream, long shard,
                           long nshards, char **text, size_t *len,
                           struct pe_error *err);
    /* Names one checkpoint for messages (caller frees). */
    char *(*where)(const void *impl, const char *stream, long shard,
                   long nshards);
    /* Names the store: its directory or table. */
    const char *(*name)(const void *impl);
    /* Durably replaces the text (NULL: printing failed, an error). */
    enum pe_status (*write)(void *impl, const char *stream, long shard,
                            long nshards, const char *text,
                            struct pe_error *err);
    /* The run lock; see pe_ckpt_lock. */
    enum pe_status (*lock)(void *impl, long wait_ms,
                           const volatile sig_atomic_t *stop,
                           struct pe_error *err);
    void (*close)(void *impl); /* releases the lock too */
};

/* Wraps a backend's impl (owned from now on; ops->close frees it). */
struct pe_ckpt_store *pe_ckpt_store_new(const struct pe_ckpt_ops *ops,
                                        void *impl);
/* Writes already printed text; for the background saver. */
enum pe_status pe_ckpt_write_text(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards, const char *text,
                                  struct pe_error *err);

#endif
