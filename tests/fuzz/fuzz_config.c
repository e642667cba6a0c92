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
#include "conninfo.h"
#include "util.h"
#include "fuzz.h"


/* libconfig 1.5's lexer loses token text on some syntax errors (from its
 * internal strbuf_append, and callocs inside libconfig_yylex; the first
 * also seen with a plain config_read_string + config_destroy under
 * valgrind).  Not ours to fix, so LeakSanitizer ignores those two sites;
 * a missing config_destroy would still show through every setting
 * libconfig allocates elsewhere. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static const char mask[] = "********";
static char path[512];

static void remove_scratch(void)
{
    if (path[0] != '\0')
        unlink(path);
}

/* One file name per process, written and removed for every input:
 * /dev/shm when it is writable (no disk traffic), else $TMPDIR, else
 * /tmp. */
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

static int contains(const uint8_t *data, size_t size, const char *word)
{
    size_t n = strlen(word);

    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, word, n) == 0)
            return 1;
    return 0;
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

static const char *password_of(const PQconninfoOption *opts)
{
    for (; opts->keyword != NULL; opts++)
        if (strcmp(opts->keyword, "password") == 0)
            return opts->val;
    return NULL;
}

/* How many times the n bytes at w occur in s. */
static size_t count_of(const char *s, const char *w, size_t n)
{
    char *word = strndup(w, n);
    size_t count = 0;

    CHECK(word != NULL);
    for (const char *p = strstr(s, word); p != NULL; p = strstr(p + 1, word))
        count++;
    free(word);
    return count;
}

/* Whether the text right after some mask starts with a tail of secret
 * (three characters or more) that the input holds only once: a mask that
 * stopped early.  Asking for a single copy keeps text that merely repeats
 * elsewhere in the input from counting. */
static int tail_after_mask(const char *in, const char *masked,
                           const char *secret)
{
    size_t ns = strlen(secret);

    if (strstr(in, mask) != NULL)
        return 0; /* asterisks in the input make "after a mask" vague */
    for (const char *m = strstr(masked, mask); m != NULL;
         m = strstr(m + 1, mask)) {
        const char *t = m + strlen(mask), *next = strstr(t, mask);
        /* Only text the masker copied, not the next mask. */
        size_t most = next != NULL ? (size_t)(next - t) : strlen(t);

        for (size_t k = ns < most ? ns : most; k >= 3; k--)
            if (strncmp(t, secret + ns - k, k) == 0 && count_of(in, t, k) == 1)
                return 1;
    }
    return 0;
}

/* Changes the letters, digits and bytes >= 0x80 of the n bytes at s + off,
 * which neither parser gives a meaning, except those of any "password"
 * (a word the masker looks for); 0 when none changed. */
static int perturb(char *s, size_t off, size_t n)
{
    size_t len = strlen(s);
    char *keep = calloc(len + 1, 1);
    int changed = 0;

    CHECK(keep != NULL);
    for (const char *w = strstr(s, "password"); w != NULL;
         w = strstr(w + 1, "password"))
        memset(keep + (w - s), 1, 8);
    for (size_t i = off; i < off + n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (keep[i])
            continue;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            s[i] = c == 'Z' ? 'Y' : 'Z';
        else if (c >= '0' && c <= '9')
            s[i] = c == '7' ? '8' : '7';
        else if (c >= 0x80)
            s[i] = (char)(c ^ 1);
        else
            continue;
        changed = 1;
    }
    free(keep);
    return changed;
}

/* Whether libpq reads other the same as orig except for the password,
 * which must be want. */
static int same_but_password(const PQconninfoOption *orig,
                             const PQconninfoOption *other, const char *want)
{
    for (; orig->keyword != NULL; orig++, other++) {
        const char *a = orig->val, *b = other->val;

        if (other->keyword == NULL || strcmp(orig->keyword, other->keyword))
            return 0;
        if (strcmp(orig->keyword, "password") == 0)
            a = want;
        if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
            return 0;
    }
    return other->keyword == NULL;
}

/* The masked text must not depend on the password: change the characters
 * of each place the password is written verbatim (checking with libpq
 * that this changes the password and nothing else) and mask again; the
 * result must be the same.  Returns the changed input that shows the
 * leak (caller frees), or NULL. */
static char *leak_by_difference(const char *conninfo, const char *masked,
                                const PQconninfoOption *orig,
                                const char *secret)
{
    size_t ns = strlen(secret);
    int tries = 0;

    /* A short password may be written in many places: try the first 64. */
    for (const char *at = strstr(conninfo, secret); at != NULL && tries < 64;
         at = strstr(at + 1, secret), tries++) {
        size_t off = (size_t)(at - conninfo);
        char *other = strdup(conninfo), *want, *err = NULL;
        PQconninfoOption *opts = NULL;
        int leak = 0;

        CHECK(other != NULL);
        if (perturb(other, off, ns)) {
            want = strndup(other + off, ns);
            CHECK(want != NULL);
            opts = PQconninfoParse(other, &err);
            PQfreemem(err);
            if (opts != NULL && same_but_password(orig, opts, want)) {
                char *again = pe_conninfo_mask(other);

                leak = strcmp(again, masked) != 0;
                free(again);
            }
            free(want);
        }
        PQconninfoFree(opts);
        if (leak)
            return other;
        free(other);
    }
    return NULL;
}

/* What masking promises.  A conninfo with no "password" and no '@' comes
 * back as it was.  When libpq reads a password from the original and it
 * is written there verbatim, the masked text does not change when the
 * password does.  When it is not (escaped or percent-encoded), libpq does
 * not read it back from the masked text, and if libpq refuses that text,
 * no tail of the password follows a mask (a mask that stopped early).
 * Masking too much is safe and not checked: a URI's "&password=" with no
 * '?' is part of the port or dbname to libpq, yet gets masked. */
static void check_mask(const char *conninfo)
{
    char *masked = pe_conninfo_mask(conninfo);
    char *errmsg = NULL, *other = NULL;
    PQconninfoOption *orig, *after = NULL;
    const char *secret, *why = NULL;

    CHECK(masked != NULL);
    /* Each password costs at least "password=" or one ':'; the mask is 8. */
    CHECK(strlen(masked) <= strlen(conninfo) + 8 * (strlen(conninfo) / 9 + 2));
    if (strstr(conninfo, "password") == NULL && strchr(conninfo, '@') == NULL)
        CHECK(strcmp(masked, conninfo) == 0);
    orig = PQconninfoParse(conninfo, &errmsg);
    PQfreemem(errmsg);
    errmsg = NULL;
    secret = orig != NULL ? password_of(orig) : NULL;
    if (secret != NULL && secret[0] != '\0') {
        after = PQconninfoParse(masked, &errmsg);
        PQfreemem(errmsg);
        if (strstr(conninfo, secret) != NULL) {
            /* Written verbatim: the difference test below says it. */
        } else if (after != NULL && password_of(after) != NULL &&
                   strcmp(password_of(after), secret) == 0 &&
                   strcmp(secret, mask) != 0) {
            why = "libpq reads the same password from the masked text";
        } else if (after == NULL && tail_after_mask(conninfo, masked, secret)) {
            why = "the end of the password follows the mask";
        }
        if (why == NULL) {
            other = leak_by_difference(conninfo, masked, orig, secret);
            if (other != NULL)
                why = "the masked text changes with the password";
        }
    }
    if (why != NULL) {
        fprintf(stderr,
                "check failed: %s:\n  in:  %s\n  out: %s\n  password: %s\n",
                why, conninfo, masked, secret);
        if (other != NULL) {
            char *again = pe_conninfo_mask(other);

            fprintf(stderr, "  in':  %s\n  out': %s\n", other, again);
            free(again);
        }
        abort();
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
    /* Some host after the scheme, and no trailing slash. */
    CHECK(n > (url[4] == 's' ? 8u : 7u) && url[n - 1] != '/');
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

    /* libconfig's @include would read files of this host (a FIFO or
     * /dev/zero hangs the fuzzer, a directory makes libconfig 1.5's
     * scanner exit(2) the process: "input in flex scanner failed"), so
     * such inputs only go through the string checks below. */
    if (contains(data, size, "@include"))
        goto strings;
    f = fopen(file, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, size, f) == size);
    CHECK(fclose(f) == 0);

    memset(&c, 0x5a, sizeof(c));
    memcpy(&poison, &c, sizeof(c));
    pe_error_clear(&err);
    st = pe_config_load(file, &c, &err);
    unlink(file); /* nothing left behind should a check below abort */
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

strings:
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
