/* SPDX-License-Identifier: MIT
 * checkpoint.c - file checkpoint store and run lock. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

/* A checkpoint file is a JSON object; unknown members are ignored so that
 * later versions can add state without breaking older readers. */
#define MAX_CKPT_BYTES (1u << 20)

struct pe_ckpt_store {
    char *dir;
    int dir_fd;
    int lock_fd;
};

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
    free(s->dir);
    free(s);
}

/* One non-blocking try; PE_ERR_LOCKED names the holder's pid. */
static enum pe_status try_lock(struct pe_ckpt_store *s, struct pe_error *err)
{
    char pid[32];
    int fd;

    fd = openat(s->dir_fd, "pinemit.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return pe_error_set(err, PE_ERR_IO, false, "%s/pinemit.lock: %s",
                            s->dir, strerror(errno));
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
    int64_t until = pe_now_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    enum pe_status st;

    if (s->lock_fd >= 0)
        return PE_OK;
    while ((st = try_lock(s, err)) == PE_ERR_LOCKED &&
           pe_now_mono_ms() < until && !(stop && *stop)) {
        struct timespec ts = {0, 100 * 1000000L};

        nanosleep(&ts, NULL);
    }
    return st;
}

char *pe_ckpt_path(const struct pe_ckpt_store *s, const char *stream)
{
    return pe_xasprintf("%s/%s.checkpoint", s->dir, stream);
}

enum pe_status pe_ckpt_load(struct pe_ckpt_store *s, const char *stream,
                            char **key, struct pe_error *err)
{
    char *name = pe_xasprintf("%s.checkpoint", stream);
    struct pe_buf text;
    cJSON *doc = NULL;
    const cJSON *k;
    enum pe_status st = PE_OK;
    char chunk[4096];
    ssize_t n;
    int fd;

    *key = NULL;
    pe_buf_init(&text, MAX_CKPT_BYTES);
    fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            st = pe_error_set(err, PE_ERR_IO, false, "%s/%s: %s", s->dir,
                              name, strerror(errno));
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
    doc = cJSON_ParseWithLength(text.data ? text.data : "", text.len);
    k = cJSON_GetObjectItemCaseSensitive(doc, "key");
    if (!cJSON_IsString(k)) {
        st = pe_error_set(err, PE_ERR_CONFIG, false,
                          "%s/%s: damaged checkpoint (no \"key\" string); "
                          "fix or remove it by hand",
                          s->dir, name);
        goto out;
    }
    *key = pe_xstrdup(k->valuestring);
out:
    if (fd >= 0)
        close(fd);
    cJSON_Delete(doc);
    pe_buf_cleanup(&text);
    free(name);
    return st;
}

enum pe_status pe_ckpt_save(struct pe_ckpt_store *s, const char *stream,
                            const char *key, struct pe_error *err)
{
    char *name = pe_xasprintf("%s.checkpoint", stream);
    char *tmp = pe_xasprintf("%s.checkpoint.tmp", stream);
    cJSON *doc = cJSON_CreateObject();
    char *text = NULL;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    enum pe_status st = PE_ERR_IO;
    int fd = -1;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddNumberToObject(doc, "version", 1);
    cJSON_AddStringToObject(doc, "stream", stream);
    cJSON_AddStringToObject(doc, "key", key);
    cJSON_AddStringToObject(doc, "updated_at", when);
    text = cJSON_Print(doc);
    fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0640);
    if (fd < 0 || text == NULL || pe_write_all(fd, text, strlen(text)) != 0 ||
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
    free(text);
    cJSON_Delete(doc);
    free(name);
    free(tmp);
    return st;
}
