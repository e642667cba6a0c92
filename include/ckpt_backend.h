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

/* What a backend needs to open or probe its store; checkpoint.c's factory
 * fills it from the config, each backend reads its own fields. */
struct pe_ckpt_opts {
    const char *dir;      /* file store: state.dir */
    const char *conninfo; /* database store: the source's conninfo */
    long timeout_s;       /* and its connect timeout */
    const char *table;    /* database store: "schema.table" */
};

/* A backend stores text (ckpt_format.h) per (stream, shard); it never
 * parses or prints the state itself.  impl belongs to the backend. */
struct pe_ckpt_ops {
    /* Opens the store; create: make what is missing. */
    struct pe_ckpt_store *(*open)(const struct pe_ckpt_opts *o, bool create,
                                  struct pe_error *err);
    /* For `check`, without side effects: could a run use the store?
     * *exists: is it there yet (a run creates it otherwise); `what` gets
     * its directory or table.  PE_ERR_CONFIG when a run could not use it
     * (not theirs to fix by waiting); PE_ERR_DB or PE_ERR_IO otherwise. */
    enum pe_status (*probe)(const struct pe_ckpt_opts *o, bool *exists,
                            char *what, size_t len, struct pe_error *err);
    /* A store not made yet reads as "no checkpoint yet" (status shows
     * '-'), not as an error. */
    bool missing_is_empty;
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

/* The backends, for checkpoint.c's factory. */
extern const struct pe_ckpt_ops pe_ckpt_file_ops; /* ckpt_file.c */
extern const struct pe_ckpt_ops pe_ckpt_db_ops;   /* ckpt_db.c */

/* Wraps a backend's impl (owned from now on; ops->close frees it). */
struct pe_ckpt_store *pe_ckpt_store_new(const struct pe_ckpt_ops *ops,
                                        void *impl);
/* Writes already printed text; for the background saver. */
enum pe_status pe_ckpt_write_text(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards, const char *text,
                                  struct pe_error *err);

#endif
