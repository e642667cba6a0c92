/* SPDX-License-Identifier: MIT
 * fuzz_config.c - libFuzzer target: the input as a config file, and as a
 * conninfo string and a topic name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() rather than assert(): the check must survive -DNDEBUG. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* libconfig 1.5 loses a string token's text on some syntax errors (64
 * bytes from its internal strbuf_append, also seen with a plain
 * config_read_string + config_destroy); not ours to fix, so LeakSanitizer
 * ignores that allocation site.  A missing config_destroy would still
 * show through every other setting libconfig allocates. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\n";
}

static const char mask[] = "********";
static char path[512];

static void remove_scratch(void)
{
    if (path[0] != '\0')
        unlink(path);
}

/* One file per process, rewritten for every input: /dev/shm when it is
 * writable (no disk traffic), else $TMPDIR, else /tmp. */
static const char *scratch_path(void)
{
    const char *dir;

    if (path[0] != '\0')
        return path;
    dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    snprintf(path, sizeof(path), "%s/pinemit-fuzz-config.%ld.conf", dir,
             (long)getpid());
    atexit(remove_scratch);
    return path;
}

/* Kafka's topic rule written out again, independently of config.c. */
static int topic_oracle(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return 0;
    for (; *t != '\0'; t++) {
        char c = *t;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int stream_name_oracle(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* What masking promises: a conninfo with no "password" and no '@' comes
 * back as it was; and whenever libpq accepts the original, it accepts the
 * masked copy too and reads no password from it but the mask.  Masking too
 * much is safe and not checked (a URI's "&password=" with no '?' is part
 * of the port or dbname to libpq, yet gets masked). */
static void check_mask(const char *conninfo)
{
    char *masked = pe_conninfo_mask(conninfo);
    char *errmsg = NULL;
    PQconninfoOption *orig, *after;

    CHECK(masked != NULL);
    /* Each password costs at least "password=" or one ':'; the mask is 8. */
    CHECK(strlen(masked) <= strlen(conninfo) + 8 * (strlen(conninfo) / 9 + 2));
    if (strstr(conninfo, "password") == NULL && strchr(conninfo, '@') == NULL)
        CHECK(strcmp(masked, conninfo) == 0);
    orig = PQconninfoParse(conninfo, &errmsg);
    PQfreemem(errmsg);
    errmsg = NULL;
    if (orig == NULL) {
        free(masked);
        return;
    }
    after = PQconninfoParse(masked, &errmsg);
    PQfreemem(errmsg);
    if (after == NULL) {
        /* Seen when the mask stops early inside the password, leaving
         * the rest of it behind as garbage. */
        fprintf(stderr, "libpq accepts the conninfo but not its masked "
                        "copy:\n  in:  %s\n  out: %s\n",
                conninfo, masked);
        abort();
    }
    for (size_t i = 0; after[i].keyword != NULL; i++) {
        const PQconninfoOption *a = &after[i];

        if (strcmp(a->keyword, "password") == 0 && a->val != NULL &&
            strcmp(a->val, mask) != 0) {
            fprintf(stderr, "password left readable by the mask:\n"
                            "  in:  %s\n  out: %s\n  password: %s\n",
                    conninfo, masked, a->val);
            abort();
        }
    }
    PQconninfoFree(after);
    PQconninfoFree(orig);
    free(masked);
}

static void check_loaded(const struct pe_config *c, const char *file)
{
    const char *url = c->sink.invoke_url;
    size_t n;

    CHECK(c->path != NULL && strcmp(c->path, file) == 0);
    CHECK(c->user_id == NULL || topic_oracle(c->user_id));
    CHECK(c->source.conninfo != NULL && c->source.conninfo[0] != '\0');
    CHECK(c->source.fetch_rows >= 1 && c->source.fetch_rows <= 1000000);
    CHECK(c->source.connect_timeout_s >= 1 &&
          c->source.connect_timeout_s <= 3600);
    CHECK(url != NULL);
    CHECK(strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0);
    n = strlen(url);
    CHECK(n > 8 && url[n - 1] != '/');
    CHECK(strpbrk(url, " \t\r\n?#") == NULL);
    CHECK(c->sink.timeout_ms >= 100 && c->sink.timeout_ms <= 3600000);
    CHECK(c->sink.connect_timeout_ms >= 100 &&
          c->sink.connect_timeout_ms <= 600000);
    CHECK(c->sink.ca_file == NULL || c->sink.ca_file[0] != '\0');
    CHECK(c->batch.max_records >= 1 && c->batch.max_records <= 100000);
    CHECK(c->batch.max_bytes >= 1024 && c->batch.max_bytes <= 10000000);
    CHECK(c->state.dir != NULL && c->state.dir[0] != '\0');
    CHECK(c->n_streams >= 1 && c->streams != NULL);
    for (size_t i = 0; i < c->n_streams; i++) {
        const struct pe_stream_config *s = &c->streams[i];

        CHECK(s->name != NULL && stream_name_oracle(s->name));
        CHECK(s->table != NULL && s->table[0] != '\0');
        CHECK(s->key != NULL && s->key[0] != '\0');
        CHECK(s->topic != NULL && topic_oracle(s->topic));
        CHECK(pe_config_stream(c, s->name) == s);
    }
    check_mask(c->source.conninfo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *file = scratch_path();
    struct pe_config c, poison;
    struct pe_error err;
    enum pe_status st;
    char *text;
    FILE *f;

    f = fopen(file, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, size, f) == size);
    CHECK(fclose(f) == 0);

    memset(&c, 0x5a, sizeof(c));
    memcpy(&poison, &c, sizeof(c));
    pe_error_clear(&err);
    st = pe_config_load(file, &c, &err);
    if (st == PE_OK) {
        check_loaded(&c, file);
        pe_config_cleanup(&c);
        pe_config_cleanup(&c); /* an already-cleaned object is fine */
    } else {
        CHECK(st == PE_ERR_CONFIG || st == PE_ERR_IO);
        CHECK(err.status == st);
        CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        CHECK(err.msg[0] != '\0');
        CHECK(memcmp(&c, &poison, sizeof(c)) == 0); /* *out untouched */
    }
    pe_config_cleanup(NULL);

    /* The same bytes as one string, up to the first NUL. */
    text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    CHECK(pe_topic_valid(text) == (topic_oracle(text) != 0));
    check_mask(text);
    free(text);
    return 0;
}
