/* SPDX-License-Identifier: MIT
 * config_read.c - typed getters over libconfig: a value's type, its range,
 * unknown members, and the FILE:LINE of the setting in every message.
 * Strings get ${VAR} and ${VAR:-default} expanded from the environment.
 * Knows no section and no setting name of its own; it must not fill
 * struct pe_config (the section readers do). */
#include "config_read.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pe_status pe_cfg_fail(struct pe_cfg_reader *r, const config_setting_t *s,
                           const char *key, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    int line = s ? config_setting_source_line(s) : 0;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line > 0)
        return pe_error_set(r->err, PE_ERR_CONFIG, false, "%s:%d: %s: %s",
                            r->path, line, key, what);
    return pe_error_set(r->err, PE_ERR_CONFIG, false, "%s: %s: %s", r->path,
                        key, what);
}

enum pe_status pe_cfg_members(struct pe_cfg_reader *r,
                              const config_setting_t *group, const char *prefix,
                              const char *const *allowed)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        bool ok = false;
        char full[256];

        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, name) == 0;
        if (!ok) {
            snprintf(full, sizeof(full), "%s%s", prefix, name);
            return pe_cfg_fail(r, m, full, "unknown setting");
        }
    }
    return PE_OK;
}

enum pe_status pe_cfg_group(struct pe_cfg_reader *r,
                            const config_setting_t *parent, const char *name,
                            const config_setting_t **out)
{
    const config_setting_t *g = config_setting_get_member(parent, name);

    *out = NULL;
    if (g == NULL)
        return PE_OK;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return pe_cfg_fail(r, g, name, "expected a group { ... }");
    *out = g;
    return PE_OK;
}

/* The characters of a variable name: [A-Za-z_][A-Za-z0-9_]*. */
#define VAR_CHARS                                                            \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

/* One ${NAME} or ${NAME:-default} at p (p[0] == '$', p[1] == '{') of the
 * text at start onto b; *next gets what follows it.  The default is taken
 * as written (up to the first '}'); it applies when NAME is unset or
 * empty, as in sh.  A bad reference is named by its place, not its text:
 * it may sit in a password. */
static enum pe_status expand_one(struct pe_cfg_reader *r,
                                 const config_setting_t *s, const char *key,
                                 const char *start, const char *p,
                                 struct pe_buf *b, const char **next)
{
    const char *name = p + 2, *end, *def = NULL, *val;
    size_t n = strspn(name, VAR_CHARS);
    char *var;

    end = name + n;
    if (end[0] == ':' && end[1] == '-') {
        def = end + 2;
        end = strchr(def, '}');
    }
    if (n == 0 || isdigit((unsigned char)name[0]) || end == NULL ||
        *end != '}')
        return pe_cfg_fail(r, s, key,
                           "bad variable reference at character %zu (write "
                           "${NAME}, ${NAME:-default}, or $$ for a $)",
                           (size_t)(p - start) + 1);
    var = pe_xstrndup(name, n);
    val = getenv(var);
    if (def != NULL && (val == NULL || *val == '\0'))
        pe_buf_append(b, def, (size_t)(end - def));
    else if (val != NULL)
        pe_buf_puts(b, val);
    free(var);
    if (val == NULL && def == NULL)
        return pe_cfg_fail(r, s, key,
                           "environment variable %.*s is not set (give a "
                           "default with ${%.*s:-default})",
                           (int)n, name, (int)n, name);
    *next = end + 1;
    return PE_OK;
}

/* The setting's text with ${NAME} and ${NAME:-default} replaced by the
 * environment and $$ by $; any other $ stays.  Only the config's text is
 * expanded: the values of the variables are taken as they are. */
static enum pe_status expand(struct pe_cfg_reader *r,
                             const config_setting_t *s, const char *key,
                             const char *in, char **out)
{
    struct pe_buf b;
    enum pe_status st = PE_OK;
    const char *p = in;

    pe_buf_init(&b, 0);
    pe_buf_puts(&b, "");
    while (st == PE_OK && *p != '\0') {
        size_t lit = strcspn(p, "$");

        pe_buf_append(&b, p, lit);
        p += lit;
        if (*p == '\0')
            break;
        if (p[1] == '{') {
            st = expand_one(r, s, key, in, p, &b, &p);
        } else {
            pe_buf_append(&b, "$", 1);
            p += p[1] == '$' ? 2 : 1;
        }
    }
    if (st != PE_OK) {
        pe_buf_cleanup(&b);
        return st;
    }
    *out = b.data;
    return PE_OK;
}

enum pe_status pe_cfg_string(struct pe_cfg_reader *r,
                             const config_setting_t *grp, const char *prefix,
                             const char *name, bool required, const char *def,
                             char **out)
{
    const config_setting_t *s =
        grp ? config_setting_get_member(grp, name) : NULL;
    char full[256];
    enum pe_status st;

    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (s == NULL) {
        if (required)
            return pe_cfg_fail(r, grp, full, "required setting is missing");
        *out = def ? pe_xstrdup(def) : NULL;
        return PE_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return pe_cfg_fail(r, s, full, "expected a string in double quotes");
    if ((st = expand(r, s, full, config_setting_get_string(s), out)) !=
        PE_OK)
        return st;
    if ((*out)[0] == '\0') {
        free(*out);
        *out = NULL;
        return pe_cfg_fail(r, s, full, "must not be empty");
    }
    return PE_OK;
}

/* libconfig 1.5 reads an integer with atoi() (a hex one with strtoul())
 * into an int, so a value beyond int wraps without a word: 4294967396
 * reads as 100, 99999999999999999999 as -1.  The literal as written on
 * the setting's lines tells: true, with that literal in lit, when `name`
 * is set there and no literal for it has the value v.  The key, the '='
 * and the number may stand on lines of their own, so the lines around the
 * one libconfig names are read as one (a neighbour of the same name whose
 * literal equals v can hide a wrap; none can invent one). */
#define WRAP_LINES 3
static bool wrapped(const char *path, int line, const char *name, long long v,
                    char *lit, size_t n)
{
    FILE *f = line > 0 ? fopen(path, "r") : NULL;
    struct pe_buf text;
    char *buf = NULL;
    size_t cap = 0, nl = strlen(name);
    ssize_t got;
    int at = 0;
    bool found = false, same = false;

    if (f == NULL)
        return false;
    pe_buf_init(&text, 0);
    pe_buf_puts(&text, "");
    while (at < line + WRAP_LINES && (got = getline(&buf, &cap, f)) >= 0)
        if (++at >= line - WRAP_LINES) {
            for (ssize_t i = 0; i < got; i++)
                if (buf[i] == '\n' || buf[i] == '\r')
                    buf[i] = ' ';
            pe_buf_append(&text, buf, (size_t)got);
        }
    for (const char *p = at >= line ? strstr(text.data, name) : NULL;
         p != NULL; p = strstr(p + 1, name)) {
        const char *q = p + nl, *d;
        char *end;
        long long x;

        if (p > text.data && (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
                        p[-1] == '-' || p[-1] == '*'))
            continue;
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':')
            continue;
        q += 1 + strspn(q + 1, " \t");
        d = q + (*q == '-' || *q == '+');
        if (!isdigit((unsigned char)*d))
            continue;
        errno = 0;
        if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
            x = (long long)strtoull(q, &end, 16);
        else
            x = strtoll(q, &end, 10);
        end += strspn(end, "Ll");
        if (errno == 0 && x == v) {
            same = true;
        } else if (!found) {
            found = true;
            snprintf(lit, n, "%.*s", (int)(end - q), q);
        }
    }
    free(buf);
    pe_buf_cleanup(&text);
    fclose(f);
    return found && !same;
}

enum pe_status pe_cfg_long(struct pe_cfg_reader *r, const config_setting_t *grp,
                           const char *prefix, const char *name, long def,
                           long min, long max, long *out)
{
    const config_setting_t *s =
        grp ? config_setting_get_member(grp, name) : NULL;
    char full[256], lit[64];
    long long v;

    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (s == NULL) {
        *out = def;
        return PE_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64)
        return pe_cfg_fail(r, s, full, "expected an integer");
    v = config_setting_get_int64(s);
    if (wrapped(r->path, config_setting_source_line(s), name, v, lit,
                sizeof(lit)))
        return pe_cfg_fail(r, s, full, "%s is out of range (%ld to %ld)", lit,
                           min, max);
    if (v < min || v > max)
        return pe_cfg_fail(r, s, full, "%lld is out of range (%ld to %ld)", v,
                           min, max);
    *out = (long)v;
    return PE_OK;
}

enum pe_status pe_cfg_bool(struct pe_cfg_reader *r, const config_setting_t *grp,
                           const char *prefix, const char *name, bool *out)
{
    const config_setting_t *v =
        grp ? config_setting_get_member(grp, name) : NULL;
    char full[256];

    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (v != NULL && config_setting_type(v) != CONFIG_TYPE_BOOL)
        return pe_cfg_fail(r, v, full, "expected true or false");
    *out = v != NULL && config_setting_get_bool(v);
    return PE_OK;
}

enum pe_status pe_cfg_section(struct pe_cfg_reader *r,
                              const config_setting_t *parent,
                              const char *parent_prefix, const char *name,
                              const char *const *allowed,
                              const config_setting_t **out)
{
    char prefix[256];
    enum pe_status st;

    if ((st = pe_cfg_group(r, parent, name, out)) != PE_OK || *out == NULL)
        return st;
    snprintf(prefix, sizeof(prefix), "%s%s.", parent_prefix, name);
    return pe_cfg_members(r, *out, prefix, allowed);
}

enum pe_status pe_cfg_choice(struct pe_cfg_reader *r,
                             const config_setting_t *grp, const char *prefix,
                             const char *name, const char *def, const char *a,
                             const char *b, int *out)
{
    char *word = NULL, full[256];
    enum pe_status st;

    if ((st = pe_cfg_string(r, grp, prefix, name, false, def, &word)) != PE_OK)
        return st;
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    if (strcmp(word, a) == 0)
        *out = 0;
    else if (strcmp(word, b) == 0)
        *out = 1;
    else
        st = pe_cfg_fail(r, config_setting_get_member(grp, name), full,
                         "\"%s\" is not %s or %s", word, a, b);
    free(word);
    return st;
}
