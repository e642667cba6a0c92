/* SPDX-License-Identifier: MIT
 * test_checkpoint.c - file checkpoint store and run lock in a temp dir. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cJSON.h>

#include "checkpoint.h"
#include "util.h"

/* Removes every entry of dir (one level of subdirectories too), then
 * dir itself. */
/* A non-NULL value that a load must overwrite with NULL. */
static char sentinel[] = "sentinel";

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char *p;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = pe_xasprintf("%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup_dir(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = pe_xasprintf("%s/pinemit-ckpt-XXXXXX",
                             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

    if (mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

static struct pe_ckpt_store *open_store(const char *dir)
{
    struct pe_error err;
    struct pe_ckpt_store *s;

    pe_error_clear(&err);
    s = pe_ckpt_open(dir, false, &err);
    if (s == NULL)
        fail_msg("pe_ckpt_open(%s): %s", dir, err.msg);
    return s;
}

/* A stream's key alone, through the shard API (nshards 1). */
static enum pe_status load_key(struct pe_ckpt_store *s, const char *stream,
                               char **key, struct pe_error *err)
{
    struct pe_ckpt_state c;
    enum pe_status st = pe_ckpt_load_shard(s, stream, 0, 1, &c, err);

    *key = c.key;
    c.key = NULL;
    pe_ckpt_state_cleanup(&c);
    return st;
}

static enum pe_status save_key(struct pe_ckpt_store *s, const char *stream,
                               const char *key, struct pe_error *err)
{
    struct pe_ckpt_state c;
    char *k = pe_xstrdup(key);
    enum pe_status st;

    memset(&c, 0, sizeof(c));
    c.key = k;
    st = pe_ckpt_save_shard(s, stream, 0, 1, &c, err);
    free(k);
    return st;
}

/* The file store's file for an unsharded stream. */
static char *ckpt_path(const char *dir, const char *stream)
{
    return pe_xasprintf("%s/%s.checkpoint", dir, stream);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(pe_write_all(fd, text, strlen(text)), 0);
    assert_int_equal(close(fd), 0);
}

/* The whole file (caller frees). */
static char *read_file(const char *path)
{
    struct pe_buf b;
    char chunk[512];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    pe_buf_init(&b, 0);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        pe_buf_append(&b, chunk, (size_t)n);
    close(fd);
    pe_buf_append(&b, "", 0);
    return b.data;
}

static void load_absent_gives_null(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_error err;
    char *key = sentinel;

    pe_error_clear(&err);
    assert_int_equal(load_key(s, "never_saved", &key, &err), PE_OK);
    assert_null(key);
    pe_ckpt_close(s);
}

static void save_load_round_trip(void **state)
{
    static const char *const keys[] = {
        "42",
        "-9223372036854775808",
        "text with \"quotes\" and \\backslash",
        "line1\nline2\r\n\ttabbed",
        "\xc3\xbcn\xc3\xaf\x63\xc3\xb8\x64\xc3\xa9 \xf0\x9f\x98\x80",
        "ctl\x01\x1b\x7f",
        "",
        "{\"looks\":\"like json\"}",
    };
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_error err;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *key = NULL;

        pe_error_clear(&err);
        assert_int_equal(save_key(s, "orders", keys[i], &err), PE_OK);
        assert_int_equal(load_key(s, "orders", &key, &err), PE_OK);
        assert_non_null(key);
        assert_string_equal(key, keys[i]);
        free(key);
    }
    pe_ckpt_close(s);
}

static void streams_are_independent(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_error err;
    char *a = NULL, *b = NULL, *c = NULL;

    assert_int_equal(save_key(s, "a", "1", &err), PE_OK);
    assert_int_equal(save_key(s, "b", "2", &err), PE_OK);
    assert_int_equal(save_key(s, "a", "3", &err), PE_OK);
    assert_int_equal(load_key(s, "a", &a, &err), PE_OK);
    assert_int_equal(load_key(s, "b", &b, &err), PE_OK);
    assert_int_equal(load_key(s, "c", &c, &err), PE_OK);
    assert_string_equal(a, "3");
    assert_string_equal(b, "2");
    assert_null(c);
    free(a);
    free(b);
    pe_ckpt_close(s);

    /* A new store on the same dir sees the saved keys. */
    s = open_store(*state);
    assert_int_equal(load_key(s, "a", &a, &err), PE_OK);
    assert_string_equal(a, "3");
    free(a);
    pe_ckpt_close(s);
}

static void path_and_file_format(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *s = open_store(dir);
    struct pe_error err;
    char *path = ckpt_path(dir, "orders");
    char *want = pe_xasprintf("%s/orders.checkpoint", dir);
    char *text;
    cJSON *doc;
    const cJSON *k, *name;

    assert_string_equal(path, want);
    assert_int_equal(save_key(s, "orders", "k \"1\"\n", &err), PE_OK);
    text = read_file(path);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_true(cJSON_IsObject(doc));
    k = cJSON_GetObjectItemCaseSensitive(doc, "key");
    assert_true(cJSON_IsString(k));
    assert_string_equal(k->valuestring, "k \"1\"\n");
    name = cJSON_GetObjectItemCaseSensitive(doc, "stream");
    assert_true(cJSON_IsString(name));
    assert_string_equal(name->valuestring, "orders");
    cJSON_Delete(doc);
    free(text);
    free(want);
    free(path);
    pe_ckpt_close(s);
}

static void unknown_members_are_ignored(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_error err;
    char *path = ckpt_path(*state, "x");
    char *key = NULL;

    write_file(path, "{\"version\":9,\"future\":[1,2],\"key\":\"77\"}\n");
    assert_int_equal(load_key(s, "x", &key, &err), PE_OK);
    assert_string_equal(key, "77");
    free(key);
    free(path);
    pe_ckpt_close(s);
}

static void damaged_files_are_data_errors(void **state)
{
    static const char *const bodies[] = {
        "garbage",
        "{}",
        "{\"key\":5}",
        "",
        "{\"key\":null}",
        "[]",
        "{\"key\":\"unterminated",
        "{\"key\":[\"1\"]}",
        "\"42\"",
    };
    struct pe_ckpt_store *s = open_store(*state);
    char *path = ckpt_path(*state, "bad");

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct pe_error err;
        char *key = sentinel;

        write_file(path, bodies[i]);
        pe_error_clear(&err);
        if (load_key(s, "bad", &key, &err) != PE_ERR_CONFIG)
            fail_msg("checkpoint [%s] was not PE_ERR_CONFIG", bodies[i]);
        assert_int_equal(err.status, PE_ERR_CONFIG);
        assert_null(key);
        /* The message names the file so an operator can fix it. */
        if (strstr(err.msg, path) == NULL)
            fail_msg("message [%s] does not name %s", err.msg, path);
    }
    free(path);
    pe_ckpt_close(s);
}

static void oversized_file_is_refused(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    char *path = ckpt_path(*state, "huge");
    struct pe_error err;
    char *key = NULL;
    size_t n = (1u << 20) + 100;
    char *big = pe_xmalloc(n + 1);

    memset(big, ' ', n);
    memcpy(big, "{\"key\":\"1\"}", 11);
    big[n] = '\0';
    write_file(path, big);
    assert_int_not_equal(load_key(s, "huge", &key, &err), PE_OK);
    assert_null(key);
    assert_non_null(strstr(err.msg, "huge.checkpoint"));
    free(big);
    free(path);
    pe_ckpt_close(s);
}

static void no_temp_file_left(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *s = open_store(dir);
    struct pe_error err;
    DIR *d;
    struct dirent *e;
    int n = 0;

    assert_int_equal(save_key(s, "s", "1", &err), PE_OK);
    assert_int_equal(save_key(s, "s", "2", &err), PE_OK);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (strstr(e->d_name, ".tmp") != NULL)
            fail_msg("temporary file %s left behind", e->d_name);
        assert_string_equal(e->d_name, "s.checkpoint");
    }
    closedir(d);
    assert_int_equal(n, 1);
    pe_ckpt_close(s);
}

static void save_replaces_stale_temp_file(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *s = open_store(dir);
    struct pe_error err;
    char *tmp = pe_xasprintf("%s/s.checkpoint.tmp", dir);
    char *key = NULL;

    /* Left over by a crash between write and rename. */
    write_file(tmp, "{\"key\":\"stale and much longer than the new one\"}");
    assert_int_equal(save_key(s, "s", "new", &err), PE_OK);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(load_key(s, "s", &key, &err), PE_OK);
    assert_string_equal(key, "new");
    free(key);
    free(tmp);
    pe_ckpt_close(s);
}

static void lock_conflicts_between_stores(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *a = open_store(dir);
    struct pe_ckpt_store *b = open_store(dir);
    struct pe_error err;
    char pid[32];

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    pe_error_clear(&err);
    assert_int_equal(pe_ckpt_lock(a, 0, NULL, &err), PE_OK);
    /* Taking it again through the same store is a no-op. */
    assert_int_equal(pe_ckpt_lock(a, 0, NULL, &err), PE_OK);
    /* flock locks belong to the open file description: a second open,
     * even in this process, conflicts. */
    assert_int_equal(pe_ckpt_lock(b, 0, NULL, &err), PE_ERR_LOCKED);
    assert_int_equal(err.status, PE_ERR_LOCKED);
    assert_non_null(strstr(err.msg, "pinemit.lock"));
    assert_non_null(strstr(err.msg, pid)); /* the holder's pid */
    assert_int_equal(pe_ckpt_lock(b, 0, NULL, &err), PE_ERR_LOCKED);
    /* Closing the holder releases the lock. */
    pe_ckpt_close(a);
    pe_error_clear(&err);
    assert_int_equal(pe_ckpt_lock(b, 0, NULL, &err), PE_OK);
    a = open_store(dir);
    assert_int_equal(pe_ckpt_lock(a, 0, NULL, &err), PE_ERR_LOCKED);
    pe_ckpt_close(a);
    pe_ckpt_close(b);
}

static void lock_file_holds_pid(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *s = open_store(dir);
    struct pe_error err;
    char *path = pe_xasprintf("%s/pinemit.lock", dir);
    char want[32];
    char *text;

    /* Old content from an earlier holder is replaced. */
    write_file(path, "999999999999\n");
    assert_int_equal(pe_ckpt_lock(s, 0, NULL, &err), PE_OK);
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    text = read_file(path);
    assert_string_equal(text, want);
    free(text);
    free(path);
    pe_ckpt_close(s);
}

static void lock_does_not_block_checkpoints(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *a = open_store(dir);
    struct pe_ckpt_store *b = open_store(dir);
    struct pe_error err;
    char *key = NULL;

    assert_int_equal(pe_ckpt_lock(a, 0, NULL, &err), PE_OK);
    assert_int_equal(save_key(a, "s", "5", &err), PE_OK);
    /* status reads checkpoints without the lock. */
    assert_int_equal(load_key(b, "s", &key, &err), PE_OK);
    assert_string_equal(key, "5");
    free(key);
    pe_ckpt_close(a);
    pe_ckpt_close(b);
}

static void open_missing_dir(void **state)
{
    char *sub = pe_xasprintf("%s/state", (const char *)*state);
    struct pe_error err;
    struct pe_ckpt_store *s;
    struct stat st;
    mode_t mask = umask(022);

    umask(mask);
    pe_error_clear(&err);
    s = pe_ckpt_open(sub, false, &err);
    assert_null(s);
    assert_int_equal(err.status, PE_ERR_IO);
    assert_non_null(strstr(err.msg, sub));
    assert_int_equal(stat(sub, &st), -1);

    pe_error_clear(&err);
    s = pe_ckpt_open(sub, true, &err);
    if (s == NULL)
        fail_msg("create: %s", err.msg);
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750 & ~mask);
    assert_int_equal(save_key(s, "x", "1", &err), PE_OK);
    pe_ckpt_close(s);

    /* create on an existing dir is fine too. */
    s = pe_ckpt_open(sub, true, &err);
    assert_non_null(s);
    pe_ckpt_close(s);
    pe_ckpt_close(NULL);
    free(sub);
}

static void open_on_a_file_fails(void **state)
{
    char *file = pe_xasprintf("%s/plain", (const char *)*state);
    char *below = pe_xasprintf("%s/plain/sub", (const char *)*state);
    struct pe_error err;

    write_file(file, "x");
    pe_error_clear(&err);
    assert_null(pe_ckpt_open(file, false, &err));
    assert_int_equal(err.status, PE_ERR_IO);
    assert_null(pe_ckpt_open(file, true, &err));
    assert_int_equal(err.status, PE_ERR_IO);
    assert_null(pe_ckpt_open(below, true, &err));
    assert_int_equal(err.status, PE_ERR_IO);
    free(file);
    free(below);
}

/* Regression (src/checkpoint.c, pe_ckpt_lock): when the lock is busy the holder
 * text is read into char holder[32] (up to 31 bytes) and then
 * strcat(holder, ")") appends two more bytes.  A lock file whose first
 * line is 31 bytes or longer (another tool, an older version, a hand
 * edit) makes strcat write one byte past the array: a stack buffer
 * overflow.  Silent in a plain build; `make asan` aborts here with
 * stack-buffer-overflow.  Expected: PE_ERR_LOCKED with a bounded message. */
static void regression_lock_holder_text_overflows(void **state)
{
    const char *dir = *state;
    struct pe_ckpt_store *a, *b;
    struct pe_error err;
    char *path;

    a = open_store(dir);
    b = open_store(dir);
    path = pe_xasprintf("%s/pinemit.lock", dir);
    assert_int_equal(pe_ckpt_lock(a, 0, NULL, &err), PE_OK);
    /* The holder keeps its flock; the content is not protected by it. */
    write_file(path, "holder-text-without-newline-0123456789abcdef");
    assert_int_equal(pe_ckpt_lock(b, 0, NULL, &err), PE_ERR_LOCKED);
    assert_non_null(strstr(err.msg, "pinemit.lock"));
    free(path);
    pe_ckpt_close(a);
    pe_ckpt_close(b);
}

/* The background saver never writes an older state after a newer one, and
 * the last one is on disk when finish returns.  States handed over while
 * one is being written are coalesced: 200 hand-overs, each far quicker
 * than a write with fsync, make fewer than 200 writes. */
static void saver_coalesces_to_newest(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_ckpt_saver *sv = pe_ckpt_saver_start(s, "bg", 0, 1, 0);
    struct pe_ckpt_state c;
    struct pe_error err;
    char *key = NULL, buf[32];
    size_t skipped;

    assert_non_null(sv);
    memset(&c, 0, sizeof(c));
    pe_error_clear(&err);
    for (int i = 1; i <= 200; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        c.key = buf; /* borrowed: the saver keeps a copy */
        assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    }
    strcpy(buf, "changed after the hand-over");
    skipped = pe_ckpt_saver_count(sv, false);
    assert_true(skipped > 0);
    assert_true(skipped < 200);
    assert_int_equal(pe_ckpt_saver_finish(sv, &err), PE_OK);
    assert_int_equal(load_key(s, "bg", &key, &err), PE_OK);
    assert_string_equal(key, "200");
    free(key);
    pe_ckpt_close(s);
}

/* With an interval, the states handed over after a write wait for it to
 * pass, and only the newest of them is written; finish does not wait for
 * the interval but writes the newest at once. */
static void saver_waits_out_the_interval(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_ckpt_saver *sv = pe_ckpt_saver_start(s, "iv", 0, 1, 60000);
    struct pe_ckpt_state c;
    struct pe_error err;
    char *key = NULL;
    int tries = 0;
    int64_t t0;

    assert_non_null(sv);
    memset(&c, 0, sizeof(c));
    pe_error_clear(&err);
    c.key = (char *)"1";
    assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    /* Bounded: the first write is not held back. */
    while (pe_ckpt_saver_count(sv, true) < 1 && tries++ < 5000) {
        struct timespec ts = {0, 1000000};

        nanosleep(&ts, NULL);
    }
    assert_int_equal(load_key(s, "iv", &key, &err), PE_OK);
    assert_non_null(key);
    assert_string_equal(key, "1");
    free(key);
    key = NULL;
    c.key = (char *)"2";
    assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    {
        /* Time for an idle saver to take "2"; this one must not. */
        struct timespec ts = {0, 50000000};

        nanosleep(&ts, NULL);
    }
    c.key = (char *)"3";
    assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    /* "2" waited out the interval and was dropped for "3". */
    assert_int_equal(pe_ckpt_saver_count(sv, false), 1);
    assert_int_equal(load_key(s, "iv", &key, &err), PE_OK);
    assert_string_equal(key, "1");
    free(key);
    t0 = pe_now_mono_ms();
    assert_int_equal(pe_ckpt_saver_finish(sv, &err), PE_OK);
    /* Not a timing test: finish must not wait out the 60 s interval (it
     * did when it waited for the saver before telling it to quit). */
    assert_true(pe_now_mono_ms() - t0 < 30000);
    assert_int_equal(load_key(s, "iv", &key, &err), PE_OK);
    assert_string_equal(key, "3");
    free(key);
    pe_ckpt_close(s);
}

/* A save that fails is reported by a later save (the saver does not make
 * the sender wait for it), once, and a later failure by finish. */
static void saver_reports_failure(void **state)
{
    struct pe_ckpt_store *s = open_store(*state);
    struct pe_ckpt_saver *sv;
    struct pe_ckpt_state c;
    struct pe_error err;
    enum pe_status st = PE_OK;
    int tries = 0;

    /* The directory goes away under the open store: every save fails. */
    remove_tree(*state);
    sv = pe_ckpt_saver_start(s, "bg", 0, 1, 0);
    assert_non_null(sv);
    memset(&c, 0, sizeof(c));
    pe_error_clear(&err);
    c.key = (char *)"1";
    assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    c.key = (char *)"2";
    /* Bounded: the first write fails within milliseconds. */
    while ((st = pe_ckpt_saver_save(sv, &c, &err)) == PE_OK && tries < 2000) {
        struct timespec ts = {0, 1000000};

        nanosleep(&ts, NULL);
        tries++;
    }
    assert_int_equal(st, PE_ERR_IO);
    assert_non_null(strstr(err.msg, (const char *)*state));
    /* Reported once: the next state is taken (and fails in its turn,
     * which finish reports). */
    c.key = (char *)"3";
    assert_int_equal(pe_ckpt_saver_save(sv, &c, &err), PE_OK);
    pe_error_clear(&err);
    assert_int_equal(pe_ckpt_saver_finish(sv, &err), PE_ERR_IO);
    assert_non_null(strstr(err.msg, (const char *)*state));
    pe_ckpt_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
    const struct CMUnitTest tests[] = {
        T(load_absent_gives_null),
        T(save_load_round_trip),
        T(streams_are_independent),
        T(path_and_file_format),
        T(unknown_members_are_ignored),
        T(damaged_files_are_data_errors),
        T(oversized_file_is_refused),
        T(no_temp_file_left),
        T(save_replaces_stale_temp_file),
        T(lock_conflicts_between_stores),
        T(lock_file_holds_pid),
        T(lock_does_not_block_checkpoints),
        T(open_missing_dir),
        T(open_on_a_file_fails),
        T(regression_lock_holder_text_overflows),
        T(saver_coalesces_to_newest),
        T(saver_waits_out_the_interval),
        T(saver_reports_failure),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
