/* SPDX-License-Identifier: MIT
 * conninfo.c - password masking for conninfo strings, URLs and the
 * messages that quote them.  Everything works on marks: one flag per
 * character of the conninfo (or URL) saying whether it belongs to a
 * password, and the text of each password; a run of hidden characters is
 * written as one mask.  Owns no connection and prints nothing. */
#include "conninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static const char mask[] = "********";

/* Outside quotes a message is searched for the password only when it has
 * at least this many characters: shorter ones turn up in any sentence. */
#define MIN_LOOSE 4

/* What is hidden in a conninfo or URL s: one flag per character, and the
 * text of each hidden range (NULL-ended) to look for in messages. */
struct marks {
    const char *s;
    char *hide;
    char **sec;
    size_t n_sec;
};

static void hide_range(struct marks *m, const char *at, size_t len)
{
    if (len == 0)
        return;
    memset(m->hide + (at - m->s), 1, len);
    m->sec = pe_xrealloc(m->sec, (m->n_sec + 2) * sizeof(char *));
    m->sec[m->n_sec++] = pe_xstrndup(at, len);
    m->sec[m->n_sec] = NULL;
}

/* Marks every password value of a key/value conninfo.  Walks it as libpq
 * does: keyword, optional spaces, '=', optional spaces, then a value in
 * single quotes (with backslash escapes) or up to a space.  Words without
 * '=' after a password (libpq refuses them: `password=my secret`) are
 * marked too: they were most likely meant as part of it. */
static void hide_keyvalue(struct marks *m)
{
    const char *p = m->s;
    bool after_secret = false;

    while (*p != '\0') {
        const char *kw = p, *kw_end, *v;
        bool secret;

        while (*p != '\0' && !isspace((unsigned char)*p) && *p != '=')
            p++;
        kw_end = p;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=') { /* not a keyword */
            if (after_secret)
                hide_range(m, kw, (size_t)(kw_end - kw));
            if (*p != '\0' && p == kw)
                p++;
            continue;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        secret = (size_t)(kw_end - kw) == 8 && strncmp(kw, "password", 8) == 0;
        v = p;
        if (*p == '\'') {
            for (p++; *p != '\0' && *p != '\''; p++)
                if (*p == '\\' && p[1] != '\0')
                    p++;
            if (*p == '\'')
                p++;
        } else {
            /* Unquoted: a backslash escapes the next character, spaces
             * included, as libpq reads it. */
            while (*p != '\0' && !isspace((unsigned char)*p)) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
        }
        if (secret)
            hide_range(m, v, (size_t)(p - v));
        after_secret = secret;
        while (isspace((unsigned char)*p))
            p++;
    }
}

/* Marks every character of a URI that could belong to a password.  The
 * ranges may overlap:
 *  - each password= parameter's value, up to '&' or the end;
 *  - the user info's password, from the first ':' to the last '@' in the
 *    text: libpq ends it at the first '@', but an unencoded '@' may be
 *    part of it (or of the user name), and so may an unencoded '/' (which
 *    a URL reader would take for the path), so no reading leaks a piece
 *    of it.  An '@' in a path makes the mask longer, never shorter. */
static void hide_uri(struct marks *m)
{
    const char *s = m->s, *auth = strstr(s, "://");
    const char *last_at = NULL, *colon, *end;

    if (auth == NULL)
        return;
    auth += 3;
    end = auth + strlen(auth);
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            last_at = q;
    colon = last_at ? memchr(auth, ':', (size_t)(last_at - auth)) : NULL;
    if (colon != NULL)
        hide_range(m, colon + 1, (size_t)(last_at - colon - 1));
    for (const char *q = strstr(s, "password="); q != NULL;
         q = strstr(q + 1, "password=")) {
        if (q == s || (q[-1] != '?' && q[-1] != '&'))
            continue;
        hide_range(m, q + 9, strcspn(q + 9, "&"));
    }
}

/* The marks of a conninfo (url false) or a URL (url true); for a
 * conninfo libpq can read, its password as libpq decodes it is one more
 * text to look for. */
static void marks_init(struct marks *m, const char *s, bool url)
{
    m->s = s;
    m->hide = pe_xcalloc(strlen(s) + 1, 1);
    m->sec = pe_xcalloc(1, sizeof(char *));
    m->n_sec = 0;
    if (url || strncmp(s, "postgresql://", 13) == 0 ||
        strncmp(s, "postgres://", 11) == 0)
        hide_uri(m);
    else
        hide_keyvalue(m);
    if (!url) {
        PQconninfoOption *opts = PQconninfoParse(s, NULL);

        for (const PQconninfoOption *o = opts; o && o->keyword; o++)
            if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
                o->val[0] != '\0') {
                m->sec = pe_xrealloc(m->sec, (m->n_sec + 2) * sizeof(char *));
                m->sec[m->n_sec++] = pe_xstrdup(o->val);
                m->sec[m->n_sec] = NULL;
            }
        PQconninfoFree(opts);
    }
}

static void marks_cleanup(struct marks *m)
{
    for (size_t i = 0; i < m->n_sec; i++) {
        explicit_bzero(m->sec[i], strlen(m->sec[i]));
        free(m->sec[i]);
    }
    free(m->sec);
    free(m->hide);
}

/* s[0..n) with each run of hidden characters written as one mask. */
static char *apply(const char *s, size_t n, const char *hide)
{
    struct pe_buf b;

    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "");
    for (size_t i = 0; i < n; i++) {
        if (!hide[i])
            pe_buf_append(&b, s + i, 1);
        else if (i == 0 || !hide[i - 1])
            pe_buf_puts(&b, mask);
    }
    return b.data;
}

static char *mask_source(const char *s, bool url)
{
    struct marks m;
    char *out;

    marks_init(&m, s, url);
    out = apply(s, strlen(s), m.hide);
    marks_cleanup(&m);
    return out;
}

char *pe_conninfo_mask(const char *conninfo)
{
    return mask_source(conninfo, false);
}

char *pe_url_mask(const char *url)
{
    return mask_source(url, true);
}

/* A quoted fragment f[0..len) of a message: where it is a piece of m->s,
 * its characters are hidden as those of m->s are (at every place it occurs);
 * elsewhere it is hidden whole when it holds a password.  A fragment that
 * is a password is hidden whole even when the same text also stands
 * elsewhere in m->s.  Text between two quoted fragments (quoted false) is
 * only hidden where it is a piece of m->s or a password: it is most often
 * the message's own words. */
static void hide_fragment(const struct marks *m, const char *f, size_t len,
                          bool quoted, char *out)
{
    size_t n = strlen(m->s);
    bool found = false;
    char *frag;

    if (len == 0)
        return;
    for (size_t j = 0; j + len <= n; j++) {
        if (memcmp(m->s + j, f, len) != 0)
            continue;
        found = true;
        for (size_t k = 0; k < len; k++)
            out[k] |= m->hide[j + k];
    }
    frag = pe_xstrndup(f, len);
    for (char *const *p = m->sec; *p != NULL; p++)
        if (found || !quoted ? strcmp(frag, *p) == 0
                             : strstr(frag, *p) != NULL)
            memset(out, 1, len);
    free(frag);
}

static bool only_masks(const char *s)
{
    return s[strspn(s, "*")] == '\0';
}

/* Masks every occurrence of a password long enough to be searched for,
 * again on the result until none is left: a mask next to the rest of the
 * text could complete one that starts or ends with '*'.  Each pass that
 * finds one turns at least one other character into '*', so the passes
 * are bounded by their number. */
static char *hide_loose(char *out, char *const *sec)
{
    size_t passes = strlen(out) - strspn(out, "*") + 1;

    for (; passes > 0; passes--) {
        size_t n = strlen(out);
        char *h = pe_xcalloc(n + 1, 1), *next;
        bool any = false;

        for (char *const *p = sec; *p != NULL; p++) {
            size_t len = strlen(*p);

            if (len < MIN_LOOSE || only_masks(*p))
                continue;
            for (const char *q = strstr(out, *p); q != NULL;
                 q = strstr(q + 1, *p)) {
                memset(h + (q - out), 1, len);
                any = true;
            }
        }
        next = any ? apply(out, n, h) : NULL;
        free(h);
        if (!any)
            break;
        free(out);
        out = next;
    }
    return out;
}

static char *mask_message(const char *src, bool url, const char *msg)
{
    size_t ns = strlen(src), nm = strlen(msg);
    char *mhide = pe_xcalloc(nm + 1, 1), *out;
    bool quoted = true;
    struct marks m;

    marks_init(&m, src, url);
    /* src itself, quoted or not. */
    for (const char *q = ns ? strstr(msg, src) : NULL; q != NULL;
         q = strstr(q + 1, src))
        for (size_t k = 0; k < ns; k++)
            mhide[q - msg + k] |= m.hide[k];
    /* Each "..." (an unclosed one runs to the end), and the text between
     * one and the next: `"a"pw"b"` may well be meant as three. */
    for (const char *q = strchr(msg, '"'); q != NULL; quoted = !quoted) {
        const char *e = strchr(q + 1, '"');

        if (e == NULL && !quoted)
            break;
        if (e == NULL)
            e = msg + nm;
        hide_fragment(&m, q + 1, (size_t)(e - q - 1), quoted,
                      mhide + (q + 1 - msg));
        q = *e != '\0' ? e : NULL;
    }
    out = hide_loose(apply(msg, nm, mhide), m.sec);
    marks_cleanup(&m);
    free(mhide);
    return out;
}

char *pe_conninfo_mask_message(const char *conninfo, const char *msg)
{
    return mask_message(conninfo, false, msg);
}

char *pe_url_mask_message(const char *url, const char *msg)
{
    return mask_message(url, true, msg);
}

void pe_conninfo_mask_error(const char *conninfo, struct pe_error *err)
{
    char *m;

    if (err == NULL)
        return;
    m = pe_conninfo_mask_message(conninfo, err->msg);
    snprintf(err->msg, sizeof(err->msg), "%s", m);
    free(m);
}

char *pe_conninfo_problem(const char *conninfo)
{
    char *why = NULL, *out;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    size_t n;

    if (opts != NULL) {
        PQconninfoFree(opts);
        return NULL;
    }
    out = pe_conninfo_mask_message(conninfo,
                                   why != NULL ? why : "libpq cannot read it");
    PQfreemem(why);
    for (char *p = out; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}
