/* SPDX-License-Identifier: MIT
 * ckpt_file.c - the file checkpoint store and its run lock (flock on
 * state.dir/pinemit.lock).  Owns everything under state.dir; must not
 * parse or print the state (ckpt_format.c does) nor know other stores. */
#include "ckpt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_backend.h"

/* A checkpoint larger than this is damaged, not big: refuse to read it. */
#define MAX_CKPT_BYTES (1u << 20)

struct file_store {
    char *dir;
    int dir_fd;
    int lock_fd;
};

struct pe_ckpt_store *pe_ckpt_open(const char *dir, bool create,
                                   struct pe_error *err)
{
    struct file_store *s;
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
    return pe_ckpt_store_new(&pe_ckpt_file_ops, s);
}

/* Can a run use `dir`?  *exists tells whether it is there yet (a run
 * creates it when its parent is writable). */
static enum pe_status probe_dir(const char *dir, bool *exists,
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

static void file_close(void *impl)
{
    struct file_store *s = impl;

    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    free(s->dir);
    free(s);
}

/* State files are opened with O_NOFOLLOW: a symbolic link planted in
 * state.dir must not make pinemit write (or truncate) its target.  ELOOP
 * is what open(2) says for such a link; name it plainly. */
static enum pe_status state_open_error(const struct file_store *s,
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
static enum pe_status try_lock(struct file_store *s, struct pe_error *err)
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

static enum pe_status file_lock(void *impl, long wait_ms,
                                const volatile sig_atomic_t *stop,
                                struct pe_error *err)
{
    struct file_store *s = impl;
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

/* The file of a stream's checkpoint (or of one of its shards). */
static char *file_name(const char *stream, long shard, long nshards)
{
    return nshards > 1 ? pe_xasprintf("%s.%ld.checkpoint", stream, shard)
                       : pe_xasprintf("%s.checkpoint", stream);
}

/* The file's bytes into *out (caller frees); left NULL when there is no
 * such file. */
static enum pe_status file_load(struct file_store *s, const char *name,
                                char **out, size_t *len, struct pe_error *err)
{
    struct pe_buf text;
    enum pe_status st = PE_OK;
    char chunk[4096];
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
    *len = text.len;
    *out = text.data != NULL ? text.data : pe_xstrdup("");
    text.data = NULL;
out:
    if (fd >= 0)
        close(fd);
    pe_buf_cleanup(&text);
    return st;
}

static enum pe_status file_save(struct file_store *s, const char *name,
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

static enum pe_status file_read(void *impl, const char *stream, long shard,
                                long nshards, char **text, size_t *len,
                                struct pe_error *err)
{
    char *name = file_name(stream, shard, nshards);
    enum pe_status st = file_load(impl, name, text, len, err);

    free(name);
    return st;
}

static char *file_where(const void *impl, const char *stream, long shard,
                        long nshards)
{
    char *name = file_name(stream, shard, nshards);
    char *where = pe_xasprintf("%s/%s",
                               ((const struct file_store *)impl)->dir, name);

    free(name);
    return where;
}

static const char *file_store_name(const void *impl)
{
    return ((const struct file_store *)impl)->dir;
}

static enum pe_status file_write(void *impl, const char *stream, long shard,
                                 long nshards, const char *text,
                                 struct pe_error *err)
{
    char *name = file_name(stream, shard, nshards);
    enum pe_status st = file_save(impl, name, text, err);

    free(name);
    return st;
}

static struct pe_ckpt_store *file_open(const struct pe_ckpt_opts *o,
                                       bool create, struct pe_error *err)
{
    return pe_ckpt_open(o->dir, create, err);
}

static enum pe_status file_probe(const struct pe_ckpt_opts *o, bool *exists,
                                 char *what, size_t len, struct pe_error *err)
{
    snprintf(what, len, "%s", o->dir);
    return probe_dir(o->dir, exists, err);
}

const struct pe_ckpt_ops pe_ckpt_file_ops = {
    .open = file_open,
    .probe = file_probe,
    .missing_is_empty = true, /* the directory comes with the first run */
    .shared = false,
    .read = file_read,
    .where = file_where,
    .name = file_store_name,
    .write = file_write,
    .lock = file_lock,
    .close = file_close,
};
