/* SPDX-License-Identifier: MIT
 * pg_conn.h - what every libpq user here shares (the source and the
 * database checkpoint store): connecting, one-line error messages with
 * one SQLSTATE classification, and identifier quoting. */
#ifndef PINEMIT_PG_CONN_H
#define PINEMIT_PG_CONN_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "util.h"

/* Connects with `conninfo` (a conninfo string or URI whose own settings
 * win), connect_timeout, fallback_application_name `appname` and UTF8,
 * NOTICEs silenced.  NULL with PE_ERR_DB "<what>: <libpq message>" (the
 * password masked) when it cannot. */
PGconn *pe_pg_connect(const char *conninfo, long timeout_s,
                      const char *appname, const char *what,
                      struct pe_error *err);
/* Worth another try: the connection broke, or the server said the failure
 * was transient (SQLSTATE classes 08, 40, 53, 57, 58 and 55P03). */
bool pe_pg_retriable(const PGconn *conn, const PGresult *res);
/* PE_ERR_DB "<what>: <message on one line>", retriable as above; res NULL
 * takes the connection's message. */
enum pe_status pe_pg_error(struct pe_error *err, const PGconn *conn,
                           const PGresult *res, const char *what);
/* A quoted identifier, "" doubled (caller frees). */
char *pe_pg_quote_ident(const char *name);
/* "schema"."table" from "schema.table" (caller frees); without a dot, the
 * same as pe_pg_quote_ident. */
char *pe_pg_quote_qualified(const char *name);

#endif
