/* SPDX-License-Identifier: MIT
 * checkpoint.c - the checkpoint store interface: the factory that picks the
 * backend the config names (ckpt_file.c, ckpt_db.c; the one place that
 * reads state.store), dispatch to the backend that opened the store, and
 * states turned into text and back with ckpt_format.c.  Beyond the
 * factory it knows no kind of store: no paths, no SQL, no locks of its
 * own. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_backend.h"
#include "config.h"

struct pe_ckpt_store {
    const struct pe_ckpt_ops *ops;
    void *impl;
};

struct pe_ckpt_store *pe_ckpt_store_new(const struct pe_ckpt_ops *ops,
                                        void *impl)
{
    struct pe_ckpt_store *s = pe_xcalloc(1, sizeof(*s));

    s->ops = ops;
    s->impl = impl;
    return s;
}

/* The backend state.store names, and its options from the config. */
static const struct pe_ckpt_ops *backend(const struct pe_config *c,
                                         struct pe_ckpt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->dir = c->state.dir;
    o->conninfo = c->source.conninfo;
    o->timeout_s = c->source.connect_timeout_s;
    o->table = c->state.table;
    return c->state.database ? &pe_ckpt_db_ops : &pe_ckpt_file_ops;
}

struct pe_ckpt_store *pe_ckpt_open_config(const struct pe_config *c,
                                          bool create, struct pe_error *err)
{
    struct pe_ckpt_opts o;

    return backend(c, &o)->open(&o, create, err);
}

enum pe_status pe_ckpt_open_existing(const struct pe_config *c,
                                     struct pe_ckpt_store **store,
                                     struct pe_error *err)
{
    struct pe_ckpt_opts o;
    const struct pe_ckpt_ops *ops = backend(c, &o);
    char unused[1];
    bool exists = true;

    *store = NULL;
    /* Only whether it is there: whether a run may make it is check's. */
    if (ops->missing_is_empty)
        (void)ops->probe(&o, &exists, unused, sizeof(unused), NULL);
    if (exists && (*store = ops->open(&o, false, err)) == NULL)
        return err->status;
    return PE_OK;
}

enum pe_status pe_ckpt_check(const struct pe_config *c, char *what,
                             size_t len, bool *exists, struct pe_error *err)
{
    struct pe_ckpt_opts o;
    char name[512];
    enum pe_status st;

    *exists = false;
    st = backend(c, &o)->probe(&o, exists, name, sizeof(name), err);
    snprintf(what, len, "%s%s", name,
             *exists ? "" : " (created by the first run)");
    return st;
}

void pe_ckpt_close(struct pe_ckpt_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s->impl);
    free(s);
}

bool pe_ckpt_shared(const struct pe_ckpt_store *s)
{
    return s->ops->shared;
}

const char *pe_ckpt_name(const struct pe_ckpt_store *s)
{
    return s->ops->name(s->impl);
}

char *pe_ckpt_where(const struct pe_ckpt_store *s, const char *stream,
                    long shard, long nshards)
{
    return s->ops->where(s->impl, stream, shard, nshards);
}

enum pe_status pe_ckpt_lock(struct pe_ckpt_store *s, long wait_ms,
                            const volatile sig_atomic_t *stop,
                            struct pe_error *err)
{
    return s->ops->lock(s->impl, wait_ms, stop, err);
}

enum pe_status pe_ckpt_load_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err)
{
    char *text = NULL, *where;
    size_t len = 0;
    enum pe_status st;

    memset(out, 0, sizeof(*out));
    st = s->ops->read(s->impl, stream, shard, nshards, &text, &len, err);
    if (st == PE_OK && text != NULL) {
        where = s->ops->where(s->impl, stream, shard, nshards);
        st = pe_ckpt_format_parse(text, len, where, out, err);
        free(where);
    }
    free(text);
    return st;
}

enum pe_status pe_ckpt_write_text(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards, const char *text,
                                  struct pe_error *err)
{
    return s->ops->write(s->impl, stream, shard, nshards, text, err);
}

enum pe_status pe_ckpt_save_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err)
{
    char *text = pe_ckpt_format_print(stream, c);
    enum pe_status st = pe_ckpt_write_text(s, stream, shard, nshards, text,
                                           err);

    free(text);
    return st;
}
