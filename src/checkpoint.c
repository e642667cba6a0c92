/* SPDX-License-Identifier: MIT
 * checkpoint.c - file checkpoint store and run lock. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include "conninfo.h"

/* A checkpoint file is a JSON object; unknown members are ignored so that
 * later versions can add state without breaking older readers. */
#define MAX_CKPT_BYTES (1u << 20)

struct pe_ckpt_store {
    char *dir; /* file store */
    int dir_fd;
    int lock_fd;
    PGconn *conn;  /* database store: its own connection, autocommit */
    char *qtable;  /* "schema"."table" */
    char *table;   /* as configured, for messages */
};

static enum pe_status db_fail(struct pe_ckpt_store *s, const PGresult *r,
                              const char *what, struct pe_error *err);

struct pe_ckpt_store *pe_ckpt_open(const char *dir, bool create,
                                   struct pe_error *err)
{
    struct pe_ckpt_store *s;
    int fd;

    if (create && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        pe_error_set(err, PE_ERR_IO, false,
                     "state directory %s: cannot create: %s", dir,
                     strerror(errno));
        return NULL;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        pe_error_set(err, PE_ERR_IO, false, "state directory %s: %s", dir,
                     strerror(errno));
        return NULL;
    }
    s = pe_xcalloc(1, sizeof(*s));
    s->dir = pe_xstrdup(dir);
    s->dir_fd = fd;
    s->lock_fd = -1;
    return s;
}

/* "schema"."table" from "schema.table". */
static char *quote_qualified(const char *table)
{
    struct pe_buf b;

    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "\"");
    for (const char *p = table; *p; p++) {
        if (*p == '.') {
            pe_buf_puts(&b, "\".\"");
            continue;
        }
        if (*p == '"')
            pe_buf_append(&b, "\"", 1);
        pe_buf_append(&b, p, 1);
    }
    pe_buf_puts(&b, "\"");
    return b.data;
}

struct pe_ckpt_store *pe_ckpt_open_db(const char *conninfo, long timeout_s,
                                      const char *table, bool create,
                                      struct pe_error *err)
{
    struct pe_ckpt_store *s = pe_xcalloc(1, sizeof(*s));
    char timeout[24];
    const char *keys[] = {"connect_timeout", "dbname",
                          "fallback_application_name", NULL};
    const char *vals[] = {timeout, conninfo, "pinemit-state", NULL};
    const char *params[1] = {NULL};
    char *schema = pe_xstrndup(table, strcspn(table, "."));
    char *qschema = quote_qualified(schema);
    char *sql = NULL;
    PGresult *r = NULL;

    s->dir_fd = -1;
    s->lock_fd = -1;
    s->table = pe_xstrdup(table);
    s->qtable = quote_qualified(table);
    snprintf(timeout, sizeof(timeout), "%ld", timeout_s);
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        db_fail(s, NULL, "cannot connect", err);
        pe_conninfo_mask_error(conninfo, err); /* libpq may quote it */
        goto fail;
    }
    /* Is it there?  Only create it (and its schema) when it is not, so a
     * role without CREATE can use a table made by someone else. */
    params[0] = s->qtable;
    r = PQexecParams(s->conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(s, r, "cannot look it up", err);
        goto fail;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't') {
        if (!create) {
            pe_error_set(err, PE_ERR_CONFIG, false,
                         "checkpoint table %s does not exist (pinemit init "
                         "or a first run creates it)",
                         table);
            goto fail;
        }
        PQclear(r);
        sql = pe_xasprintf(
            "CREATE SCHEMA IF NOT EXISTS %s;"
            " CREATE TABLE IF NOT EXISTS %s (stream text NOT NULL,"
            " shard int4 NOT NULL, state jsonb NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
            " PRIMARY KEY (stream, shard))",
            qschema, s->qtable);
        r = PQexec(s->conn, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

            if (state != NULL && strcmp(state, "42501") == 0)
                pe_error_set(err, PE_ERR_CONFIG, false,
                             "checkpoint table %s does not exist and this "
                             "role may not create it: %s; run `pinemit init` "
                             "as a role that may, or GRANT CREATE",
                             table, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
            else
                db_fail(s, r, "cannot create it", err);
            goto fail;
        }
    }
    PQclear(r);
    free(sql);
    free(schema);
    free(qschema);
    return s;
fail:
    PQclear(r);
    free(sql);
    free(schema);
    free(qschema);
    pe_ckpt_close(s);
    return NULL;
}

enum pe_status pe_ckpt_probe(const char *dir, bool *exists,
                             struct pe_error *err)
{
    struct stat sb;
    char *parent;
    char *slash;
    enum pe_status st = PE_OK;

    *exists = stat(dir, &sb) == 0;
    if (*exists) {
        if (!S_ISDIR(sb.st_mode))
            return pe_error_set(err, PE_ERR_IO, false,
                                "%s: not a directory", dir);
        if (access(dir, W_OK | X_OK) != 0)
            return pe_error_set(err, PE_ERR_IO, false, "%s: %s", dir,
                                strerror(errno));
        return PE_OK;
    }
    parent = pe_xstrdup(dir);
    slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        strcpy(parent, ".");
    if (access(parent, W_OK | X_OK) != 0)
        st = pe_error_set(err, PE_ERR_IO, false,
                          "%s does not exist and %s is not writable: %s",
                          dir, parent, strerror(errno));
    free(parent);
    return st;
}

void pe_ckpt_close(struct pe_ckpt_store *s)
{
    if (s == NULL)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    if (s->conn != NULL)
        PQfinish(s->conn);
    free(s->qtable);
    free(s->table);
    free(s->dir);
    free(s);
}

/* State files are opened with O_NOFOLLOW: a symbolic link planted in
 * state.dir must not make pinemit write (or truncate) its target.  ELOOP
 * is what open(2) says for such a link; name it plainly. */
static enum pe_status state_open_error(const struct pe_ckpt_store *s,
                                       const char *name, struct pe_error *err)
{
    if (errno == ELOOP)
        return pe_error_set(err, PE_ERR_IO, false,
                            "%s/%s is a symbolic link; pinemit does not "
                            "follow links in state.dir (remove it)",
                            s->dir, name);
    return pe_error_set(err, PE_ERR_IO, false, "%s/%s: %s", s->dir, name,
                        strerror(errno));
}

/* One non-blocking try; PE_ERR_LOCKED names the holder's pid. */
static enum pe_status try_lock(struct pe_ckpt_store *s, struct pe_error *err)
{
    char pid[32];
    int fd;

    fd = openat(s->dir_fd, "pinemit.lock",
                O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return state_open_error(s, "pinemit.lock", err);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);

        close(fd);
        if (e == EWOULDBLOCK) {
            holder[n > 0 ? n : 0] = '\0';
            holder[strspn(holder, "0123456789")] = '\0';
            if (holder[0] == '\0')
                return pe_error_set(err, PE_ERR_LOCKED, false,
                                    "another pinemit run holds "
                                    "%s/pinemit.lock",
                                    s->dir);
            return pe_error_set(err, PE_ERR_LOCKED, false,
                                "another pinemit run (pid %s) holds "
                                "%s/pinemit.lock",
                                holder, s->dir);
        }
        return pe_error_set(err, PE_ERR_IO, false, "%s/pinemit.lock: %s",
                            s->dir, strerror(e));
    }
    /* The holder's pid, for the message above and for operators. */
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pe_write_all(fd, pid, strlen(pid)) == 0) {
        /* best effort: the flock is what counts */
    }
    s->lock_fd = fd;
    return PE_OK;
}

enum pe_status pe_ckpt_lock(struct pe_ckpt_store *s, long wait_ms,
                            const volatile sig_atomic_t *stop,
                            struct pe_error *err)
{
    if (s->conn != NULL)
        return PE_OK; /* the database store coordinates by advisory locks */
    int64_t until = pe_now_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    enum pe_status st;

    if (s->lock_fd >= 0)
        return PE_OK;
    while ((st = try_lock(s, err)) == PE_ERR_LOCKED &&
           pe_now_mono_ms() < until && !(stop && __atomic_load_n(stop, __ATOMIC_RELAXED))) {
        struct timespec ts = {0, 100 * 1000000L};

        nanosleep(&ts, NULL);
    }
    return st;
}

char *pe_ckpt_path(const struct pe_ckpt_store *s, const char *stream)
{
    return pe_xasprintf("%s/%s.checkpoint", s->dir, stream);
}

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

/* A checkpoint's text (either store) into *out; `where` names it. */
static enum pe_status parse_state(const char *text, size_t len,
                                  const char *where, struct pe_ckpt_state *out,
                                  struct pe_error *err)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "key");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "tracking");
    enum pe_status st = PE_OK;

    /* A null key: a tracked stream that has sent nothing yet. */
    if (!(cJSON_IsString(k) || (cJSON_IsNull(k) && t != NULL)) ||
        (t != NULL && !cJSON_IsNull(t) && !parse_tracking(t, out))) {
        pe_ckpt_state_cleanup(out);
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "%s: damaged checkpoint (%s); fix or remove it "
                          "by hand",
                          where,
                          cJSON_IsString(k) ? "bad \"tracking\""
                                            : "no \"key\" string");
    } else {
        out->key = cJSON_IsString(k) ? pe_xstrdup(k->valuestring) : NULL;
    }
    cJSON_Delete(doc);
    return st;
}

/* The file of a stream's checkpoint (or of one of its shards). */
static char *file_name(const char *stream, long shard, long nshards)
{
    return nshards > 1 ? pe_xasprintf("%s.%ld.checkpoint", stream, shard)
                       : pe_xasprintf("%s.checkpoint", stream);
}

static enum pe_status file_load(struct pe_ckpt_store *s, const char *name,
                                struct pe_ckpt_state *out,
                                struct pe_error *err)
{
    struct pe_buf text;
    enum pe_status st = PE_OK;
    char chunk[4096], *where;
    ssize_t n;
    int fd;

    pe_buf_init(&text, MAX_CKPT_BYTES);
    fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            st = state_open_error(s, name, err);
        goto out;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || pe_buf_append(&text, chunk, (size_t)n) != PE_OK) {
            st = pe_error_set(err, PE_ERR_IO, false, "%s/%s: %s", s->dir,
                              name, n < 0 ? strerror(errno) : "too large");
            goto out;
        }
    }
    where = pe_xasprintf("%s/%s", s->dir, name);
    st = parse_state(text.data ? text.data : "", text.len, where, out, err);
    free(where);
out:
    if (fd >= 0)
        close(fd);
    pe_buf_cleanup(&text);
    return st;
}

/* One-line libpq error text. */
static enum pe_status db_fail(struct pe_ckpt_store *s, const PGresult *r,
                              const char *what, struct pe_error *err)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char one[300];

    snprintf(one, sizeof(one), "%s", m && *m ? m : "unknown error");
    for (char *p = one; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return pe_error_set(err, PE_ERR_DB,
                        PQstatus(s->conn) != CONNECTION_OK || state == NULL ||
                            strncmp(state, "08", 2) == 0 ||
                            strncmp(state, "57", 2) == 0,
                        "checkpoint table %s: %s: %s", s->table, what, one);
}

/* The store's connection broke (a database restart, say): one new try. */
static PGresult *db_exec(struct pe_ckpt_store *s, const char *sql, int n,
                         const char *const *params)
{
    PGresult *r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQstatus(s->conn) != CONNECTION_OK) {
        PQclear(r);
        PQreset(s->conn);
        r = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    return r;
}

static enum pe_status db_load(struct pe_ckpt_store *s, const char *stream,
                              long shard, struct pe_ckpt_state *out,
                              struct pe_error *err)
{
    char *sql = pe_xasprintf("SELECT state::text FROM %s WHERE stream = $1"
                             " AND shard = $2::int4",
                             s->qtable);
    char shard_s[24], *where;
    const char *params[2] = {stream, shard_s};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = db_exec(s, sql, 2, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = db_fail(s, r, "cannot read a checkpoint", err);
    } else if (PQntuples(r) == 1) {
        where = pe_xasprintf("%s (stream %s, shard %ld)", s->table, stream,
                             shard);
        st = parse_state(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                         where, out, err);
        free(where);
    }
    PQclear(r);
    free(sql);
    return st;
}

enum pe_status pe_ckpt_load_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err)
{
    char *name;
    enum pe_status st;

    memset(out, 0, sizeof(*out));
    if (s->conn != NULL)
        return db_load(s, stream, shard, out, err);
    name = file_name(stream, shard, nshards);
    st = file_load(s, name, out, err);
    free(name);
    return st;
}

enum pe_status pe_ckpt_load_state(struct pe_ckpt_store *s, const char *stream,
                                  struct pe_ckpt_state *out,
                                  struct pe_error *err)
{
    return pe_ckpt_load_shard(s, stream, 0, 1, out, err);
}

enum pe_status pe_ckpt_load(struct pe_ckpt_store *s, const char *stream,
                            char **key, struct pe_error *err)
{
    struct pe_ckpt_state c;
    enum pe_status st = pe_ckpt_load_state(s, stream, &c, err);

    *key = c.key;
    c.key = NULL;
    pe_ckpt_state_cleanup(&c);
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

/* The checkpoint as JSON text (caller frees). */
static char *state_text(const char *stream, const struct pe_ckpt_state *c)
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
    if (c->tracked)
        cJSON_AddItemToObject(doc, "tracking", tracking_json(c));
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    return text;
}

static enum pe_status file_save(struct pe_ckpt_store *s, const char *name,
                                const char *text, struct pe_error *err)
{
    char *tmp = pe_xasprintf("%s.tmp", name);
    enum pe_status st = PE_ERR_IO;
    int fd;

    fd = openat(s->dir_fd, tmp,
                O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        state_open_error(s, tmp, err);
        goto out;
    }
    if (text == NULL || pe_write_all(fd, text, strlen(text)) != 0 ||
        pe_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        pe_error_set(err, PE_ERR_IO, false, "%s/%s: %s", s->dir, tmp,
                     strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        pe_error_set(err, PE_ERR_IO, false, "%s/%s: %s", s->dir, tmp,
                     strerror(errno));
        goto out;
    }
    fd = -1;
    if (renameat(s->dir_fd, tmp, s->dir_fd, name) != 0) {
        pe_error_set(err, PE_ERR_IO, false, "rename %s/%s: %s", s->dir, tmp,
                     strerror(errno));
        goto out;
    }
    /* The rename itself must survive a power loss. */
    if (fsync(s->dir_fd) != 0) {
        pe_error_set(err, PE_ERR_IO, false, "fsync %s: %s", s->dir,
                     strerror(errno));
        goto out;
    }
    st = PE_OK;
out:
    if (fd >= 0)
        close(fd);
    free(tmp);
    return st;
}

/* One short transaction of its own (autocommit): durable when it returns. */
static enum pe_status db_save(struct pe_ckpt_store *s, const char *stream,
                              long shard, const char *text,
                              struct pe_error *err)
{
    char *sql = pe_xasprintf(
        "INSERT INTO %s (stream, shard, state, updated_at)"
        " VALUES ($1, $2::int4, $3::jsonb, pg_catalog.now())"
        " ON CONFLICT (stream, shard) DO UPDATE"
        " SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
        s->qtable);
    char shard_s[24];
    const char *params[3] = {stream, shard_s, text};
    PGresult *r;
    enum pe_status st = PE_OK;

    snprintf(shard_s, sizeof(shard_s), "%ld", shard);
    r = db_exec(s, sql, 3, params);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        st = db_fail(s, r, "cannot save a checkpoint", err);
    PQclear(r);
    free(sql);
    return st;
}

static enum pe_status write_text(struct pe_ckpt_store *s, const char *stream,
                                 long shard, long nshards, const char *text,
                                 struct pe_error *err)
{
    char *name;
    enum pe_status st;

    if (s->conn != NULL)
        return db_save(s, stream, shard, text, err);
    name = file_name(stream, shard, nshards);
    st = file_save(s, name, text, err);
    free(name);
    return st;
}

enum pe_status pe_ckpt_save_shard(struct pe_ckpt_store *s, const char *stream,
                                  long shard, long nshards,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err)
{
    char *text = state_text(stream, c);
    enum pe_status st = write_text(s, stream, shard, nshards, text, err);

    free(text);
    return st;
}

/* mu guards text, busy, quit, st and err. */
struct pe_ckpt_saver {
    struct pe_ckpt_store *store;
    char *stream;
    long shard, nshards;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text; /* the state being saved (owned) */
    bool busy;  /* text is being written */
    bool quit;
    enum pe_status st; /* the first failure */
    struct pe_error err;
};

static void *saver_main(void *arg)
{
    struct pe_ckpt_saver *sv = arg;

    pthread_mutex_lock(&sv->mu);
    for (;;) {
        struct pe_error e;
        enum pe_status st;

        while (!sv->busy && !sv->quit)
            pthread_cond_wait(&sv->cv, &sv->mu);
        if (!sv->busy)
            break; /* quit, nothing left */
        pthread_mutex_unlock(&sv->mu);
        pe_error_clear(&e);
        st = write_text(sv->store, sv->stream, sv->shard, sv->nshards,
                        sv->text, &e);
        pthread_mutex_lock(&sv->mu);
        if (st != PE_OK && sv->st == PE_OK) {
            sv->st = st;
            sv->err = e;
        }
        free(sv->text);
        sv->text = NULL;
        sv->busy = false;
        pthread_cond_broadcast(&sv->cv);
    }
    pthread_mutex_unlock(&sv->mu);
    return NULL;
}

struct pe_ckpt_saver *pe_ckpt_saver_start(struct pe_ckpt_store *s,
                                          const char *stream, long shard,
                                          long nshards)
{
    struct pe_ckpt_saver *sv = pe_xcalloc(1, sizeof(*sv));

    sv->store = s;
    sv->stream = pe_xstrdup(stream);
    sv->shard = shard;
    sv->nshards = nshards;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cv, NULL);
    if (pthread_create(&sv->thread, NULL, saver_main, sv) != 0) {
        pthread_cond_destroy(&sv->cv);
        pthread_mutex_destroy(&sv->mu);
        free(sv->stream);
        free(sv);
        return NULL; /* the caller saves in its own thread */
    }
    return sv;
}

/* Waits until the saver is idle; mu held. */
static void saver_wait(struct pe_ckpt_saver *sv)
{
    while (sv->busy)
        pthread_cond_wait(&sv->cv, &sv->mu);
}

enum pe_status pe_ckpt_saver_save(struct pe_ckpt_saver *sv,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err)
{
    char *text = state_text(sv->stream, c);
    enum pe_status st;

    pthread_mutex_lock(&sv->mu);
    saver_wait(sv);
    st = sv->st;
    if (st == PE_OK) {
        sv->text = text;
        sv->busy = true;
        pthread_cond_broadcast(&sv->cv);
    } else {
        /* Reported once: the caller may recover (a database store
         * reconnects) and hand over a later state, which holds this one. */
        *err = sv->err;
        sv->st = PE_OK;
        free(text);
    }
    pthread_mutex_unlock(&sv->mu);
    return st;
}

enum pe_status pe_ckpt_saver_finish(struct pe_ckpt_saver *sv,
                                    struct pe_error *err)
{
    enum pe_status st;

    if (sv == NULL)
        return PE_OK;
    pthread_mutex_lock(&sv->mu);
    saver_wait(sv);
    sv->quit = true;
    pthread_cond_broadcast(&sv->cv);
    st = sv->st;
    if (st != PE_OK && err != NULL)
        *err = sv->err;
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->thread, NULL);
    pthread_cond_destroy(&sv->cv);
    pthread_mutex_destroy(&sv->mu);
    free(sv->stream);
    free(sv);
    return st;
}

enum pe_status pe_ckpt_save_state(struct pe_ckpt_store *s, const char *stream,
                                  const struct pe_ckpt_state *c,
                                  struct pe_error *err)
{
    return pe_ckpt_save_shard(s, stream, 0, 1, c, err);
}

enum pe_status pe_ckpt_save(struct pe_ckpt_store *s, const char *stream,
                            const char *key, struct pe_error *err)
{
    struct pe_ckpt_state c;

    memset(&c, 0, sizeof(c));
    c.key = (char *)(uintptr_t)key; /* borrowed; not freed */
    return pe_ckpt_save_state(s, stream, &c, err);
}
