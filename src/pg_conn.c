/* SPDX-License-Identifier: MIT
 * pg_conn.c - libpq ground shared by source_pg.c and ckpt_db.c: connect,
 * the one SQLSTATE classification, one-line messages, identifier quoting.
 * Owns no connection after returning one; must not run queries of its own
 * nor know tables, pages or checkpoints. */
#include "pg_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"

static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* A value libpq parses but refuses only when it connects (sslmode=bogus,
 * port=abc): a config problem, not the database being away.  libpq words
 * these as "invalid <option> value..." or "invalid port number...". */
static bool bad_option(const char *msg, char *line, size_t size)
{
    const char *eol = msg ? strchr(msg, '\n') : NULL;
    size_t n = eol ? (size_t)(eol - msg) : (msg ? strlen(msg) : 0);

    if (msg == NULL || strncmp(msg, "invalid ", 8) != 0)
        return false;
    snprintf(line, size, "%.*s", (int)n, msg);
    return strstr(line, " value") != NULL ||
           strncmp(line, "invalid port number", 19) == 0;
}

PGconn *pe_pg_connect(const char *conninfo, long timeout_s,
                      const char *appname, const char *what,
                      struct pe_error *err)
{
    char timeout[32];
    const char *keys[] = {"connect_timeout", "dbname",
                          "fallback_application_name", "client_encoding",
                          NULL};
    const char *vals[] = {timeout, conninfo, appname, "UTF8", NULL};
    PGconn *conn;
    char line[256];

    snprintf(timeout, sizeof(timeout), "%ld", timeout_s);
    /* expand_dbname: the conninfo's own settings override the ones before
     * it; client_encoding after it is forced. */
    conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        pe_pg_error(err, conn, NULL, what);
        if (conn != NULL &&
            bad_option(PQerrorMessage(conn), line, sizeof(line)))
            pe_error_set(err, PE_ERR_CONFIG, false, "source.conninfo: %s",
                         line);
        pe_conninfo_mask_error(conninfo, err); /* libpq may quote it */
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, quiet_notices, NULL);
    return conn;
}

bool pe_pg_retriable(const PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    /* Connection exceptions, serialization and deadlock, resources,
     * operator intervention such as a statement timeout or a shutdown,
     * system errors, lock not available. */
    return conn == NULL || PQstatus(conn) != CONNECTION_OK || state == NULL ||
           strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strncmp(state, "58", 2) == 0 || strcmp(state, "55P03") == 0;
}

/* libpq messages end in newlines; messages here are one line. */
enum pe_status pe_pg_error(struct pe_error *err, const PGconn *conn,
                           const PGresult *res, const char *what)
{
    const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    char one[400];
    size_t n;

    snprintf(one, sizeof(one), "%s", m && *m ? m : "unknown error");
    for (char *p = one; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    n = strlen(one);
    while (n > 0 && one[n - 1] == ' ')
        one[--n] = '\0';
    return pe_error_set(err, PE_ERR_DB, pe_pg_retriable(conn, res), "%s: %s",
                        what, one);
}

char *pe_pg_quote_ident(const char *name)
{
    struct pe_buf b;

    pe_buf_init(&b, 0);
    pe_buf_append(&b, "\"", 1);
    for (; *name; name++) {
        if (*name == '"')
            pe_buf_append(&b, "\"", 1); /* "" inside quotes */
        pe_buf_append(&b, name, 1);
    }
    pe_buf_append(&b, "\"", 1);
    return b.data;
}

char *pe_pg_quote_qualified(const char *name)
{
    size_t n = strcspn(name, ".");
    char *schema, *qs, *qt, *q;

    if (name[n] == '\0')
        return pe_pg_quote_ident(name);
    schema = pe_xstrndup(name, n);
    qs = pe_pg_quote_ident(schema);
    qt = pe_pg_quote_ident(name + n + 1);
    q = pe_xasprintf("%s.%s", qs, qt);
    free(schema);
    free(qs);
    free(qt);
    return q;
}
