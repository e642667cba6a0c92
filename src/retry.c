/* SPDX-License-Identifier: MIT
 * retry.c - backoff arithmetic and Retry-After parsing. */
#include "retry.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t pe_backoff_ms(const struct pe_retry_policy *p, long retry,
                      uint64_t rnd)
{
    int64_t cap = p->initial_backoff_ms > 0 ? p->initial_backoff_ms : 1;

    for (long i = 0; i < retry && cap < p->max_backoff_ms; i++) {
        if (cap > INT64_MAX / 2)
            break; /* the cap below holds it anyway */
        cap *= 2;
    }
    if (cap > p->max_backoff_ms)
        cap = p->max_backoff_ms;
    if (cap <= 0)
        return 0;
    return (int64_t)(rnd % ((uint64_t)cap + 1));
}

static int month_index(const char *m)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    for (int i = 0; i < 12; i++)
        if (strncmp(m, names + 3 * i, 3) == 0)
            return i;
    return -1;
}

/* Reads exactly n digits at *p into *out. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int hms(const char **p, struct tm *tm)
{
    if (digits(p, 2, &tm->tm_hour) || *(*p)++ != ':' ||
        digits(p, 2, &tm->tm_min) || *(*p)++ != ':' ||
        digits(p, 2, &tm->tm_sec))
        return -1;
    return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

/* The three HTTP-date forms of RFC 9110, section 5.6.7. */
static int http_date(const char *s, time_t *out)
{
    struct tm tm;
    const char *p;
    int mon, year;

    memset(&tm, 0, sizeof(tm));
    p = strchr(s, ',');
    if (p != NULL) {
        p++;
        while (*p == ' ')
            p++;
        if (digits(&p, 2, &tm.tm_mday))
            return -1;
        if (*p != ' ' && *p != '-')
            return -1;
        p++;
        if (strlen(p) < 3 || (mon = month_index(p)) < 0)
            return -1;
        p += 3;
        if (*p != ' ' && *p != '-')
            return -1;
        p++;
        if (strlen(p) < 4)
            return -1;
        if (isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3])) {
            if (digits(&p, 4, &year))
                return -1;
        } else { /* RFC 850: two-digit year */
            if (digits(&p, 2, &year))
                return -1;
            year += year < 70 ? 2000 : 1900;
        }
        if (*p++ != ' ' || hms(&p, &tm) || strcmp(p, " GMT") != 0)
            return -1;
    } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
        p = s;
        if (strlen(p) < 24 || p[3] != ' ')
            return -1;
        p += 4;
        if ((mon = month_index(p)) < 0 || p[3] != ' ')
            return -1;
        p += 4;
        if (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        tm.tm_mday = *p++ - '0';
        if (isdigit((unsigned char)*p))
            tm.tm_mday = tm.tm_mday * 10 + (*p++ - '0');
        if (*p++ != ' ' || hms(&p, &tm) || *p++ != ' ' ||
            digits(&p, 4, &year) || *p != '\0')
            return -1;
    }
    if (tm.tm_mday < 1 || tm.tm_mday > 31)
        return -1;
    tm.tm_mon = mon;
    tm.tm_year = year - 1900;
    *out = timegm(&tm);
    return *out == (time_t)-1 ? -1 : 0;
}

enum pe_status pe_retry_after_parse(const char *value, int64_t now_s,
                                    int64_t *ms)
{
    const char *p = value;
    time_t when;

    while (*p == ' ' || *p == '\t')
        p++;
    if (isdigit((unsigned char)*p)) {
        int64_t secs = 0;

        for (; isdigit((unsigned char)*p); p++) {
            if (secs > INT64_MAX / 10000)
                return PE_ERR_DATA; /* absurd; refuse rather than wrap */
            secs = secs * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0' || secs > INT64_MAX / 1000)
            return PE_ERR_DATA;
        *ms = secs * 1000;
        return PE_OK;
    }
    if (*p == '\0' || http_date(p, &when) != 0)
        return PE_ERR_DATA;
    *ms = (int64_t)when > now_s ? ((int64_t)when - now_s) * 1000 : 0;
    return PE_OK;
}

uint64_t pe_random64(void)
{
    uint64_t v;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    v = (uint64_t)pe_now_mono_ms() * 0x9E3779B97F4A7C15ull;
    return v ^ (v >> 31);
}
