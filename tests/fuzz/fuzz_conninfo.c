/* SPDX-License-Identifier: MIT
 * fuzz_conninfo.c - libFuzzer target: masking the password in messages.
 * Input: one mode byte (bit 0 set: a URL, else a conninfo), the conninfo
 * or URL up to the first NUL, then a message template in which byte 0x01
 * stands for the whole conninfo, 0x02 for its password and 0x03 for the
 * password in double quotes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conninfo.h"
#include "util.h"
#include "fuzz.h"

/* The password, by a rule of its own: for a conninfo, what libpq reads;
 * for a URL (or a postgres URI libpq refuses), the user info's text
 * after its first ':', the user info ending at the last '@' of the text
 * (a password may hold an unencoded '/').  NULL when there is none. */
static char *password_of(const char *src, int url)
{
    const char *auth, *at = NULL, *colon;
    size_t n;

    if (!url) {
        PQconninfoOption *opts = PQconninfoParse(src, NULL);
        char *pw = NULL;

        for (const PQconninfoOption *o = opts; o && o->keyword; o++)
            if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
                pw = strdup(o->val);
        PQconninfoFree(opts);
        if (opts != NULL || (strncmp(src, "postgresql://", 13) != 0 &&
                             strncmp(src, "postgres://", 11) != 0))
            return pw;
    }
    auth = strstr(src, "://");
    if (auth == NULL)
        return NULL;
    auth += 3;
    n = strlen(auth);
    for (size_t i = 0; i < n; i++)
        if (auth[i] == '@')
            at = auth + i;
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    return colon ? strndup(colon + 1, (size_t)(at - colon - 1)) : NULL;
}

static char *expand(const char *tpl, size_t n, const char *src,
                    const char *pw)
{
    struct pe_buf b;

    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "");
    /* 64 KiB is far beyond any real message; it keeps a run fast. */
    for (size_t i = 0; i < n && b.len < 65536; i++) {
        if (tpl[i] == 1) {
            pe_buf_puts(&b, src);
        } else if (tpl[i] == 2) {
            pe_buf_puts(&b, pw);
        } else if (tpl[i] == 3) {
            pe_buf_puts(&b, "\"");
            pe_buf_puts(&b, pw);
            pe_buf_puts(&b, "\"");
        } else {
            pe_buf_append(&b, tpl + i, 1);
        }
    }
    return b.data;
}

static int only_masks(const char *s)
{
    return s[strspn(s, "*")] == '\0';
}

/* A password of 4 characters or more (not all '*', which the mask itself
 * is made of) appears nowhere in out; a quoted one, of any length, does
 * not appear quoted when the message quotes nothing else. */
static void check_hidden(const char *what, const char *src, const char *msg,
                         const char *out, const char *pw, int quotes_only_pw)
{
    char *quoted;

    if (pw == NULL || pw[0] == '\0' || only_masks(pw))
        return;
    if (strlen(pw) >= 4 && strstr(out, pw) != NULL) {
        fprintf(stderr, "%s: password left:\n  src: %s\n  msg: %s\n"
                        "  out: %s\n  pw:  %s\n",
                what, src, msg, out, pw);
        abort();
    }
    if (!quotes_only_pw || strchr(pw, '"') != NULL)
        return;
    quoted = pe_xasprintf("\"%s\"", pw);
    if (strstr(out, quoted) != NULL) {
        fprintf(stderr, "%s: quoted password left:\n  src: %s\n  msg: %s\n"
                        "  out: %s\n",
                what, src, msg, out);
        abort();
    }
    free(quoted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1, *tpl;
    char *src, *pw, *msg, *out;
    size_t n, tn;
    int url;

    if (size < 1)
        return 0;
    url = data[0] & 1;
    n = strnlen(text, size - 1);
    src = strndup(text, n);
    CHECK(src != NULL);
    tpl = n < size - 1 ? text + n + 1 : "";
    tn = n < size - 1 ? size - 1 - n - 1 : 0;
    pw = password_of(src, url);
    msg = expand(tpl, tn, src, pw ? pw : "");
    out = url ? pe_url_mask_message(src, msg)
              : pe_conninfo_mask_message(src, msg);
    CHECK(out != NULL);
    /* Nothing to hide: the message comes back as it was. */
    if (strchr(src, '@') == NULL && strstr(src, "password") == NULL)
        CHECK(strcmp(out, msg) == 0);
    check_hidden("message", src, msg, out, pw,
                 memchr(tpl, '"', tn) == NULL && memchr(tpl, 1, tn) == NULL);
    free(out);
    if (!url) {
        /* libpq's own reason for refusing it. */
        out = pe_conninfo_problem(src);
        if (out != NULL) {
            CHECK(strchr(out, '\n') == NULL);
            check_hidden("libpq's reason", src, "", out, pw, 0);
        }
        free(out);
    }
    free(msg);
    free(pw);
    free(src);
    return 0;
}
