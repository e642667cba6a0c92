/* SPDX-License-Identifier: MIT
 * conninfo.h - passwords kept out of messages: masks the password of a
 * libpq conninfo string or URI, of a URL's user info, and of any message
 * (libpq's, libcurl's) that quotes them; checks a conninfo with libpq's own
 * parser.  Pure functions: nothing here connects, logs or prints.  Every
 * returned string belongs to the caller. */
#ifndef PINEMIT_CONNINFO_H
#define PINEMIT_CONNINFO_H

#include "util.h"

/* Copy of a libpq conninfo string or URI with any password replaced by
 * "********". */
char *pe_conninfo_mask(const char *conninfo);
/* Copy of a URL ("https://user:password@host/...") with the password of
 * its user info replaced by "********". */
char *pe_url_mask(const char *url);

/* Copy of msg with every piece of the password of `conninfo` (or `url`)
 * that msg quotes replaced by "********": a quoted fragment that is part of
 * the conninfo is masked as the conninfo is; one that is not but holds the
 * password is masked whole; and the password itself (at least 4
 * characters, as written or as libpq decodes it) is masked wherever it
 * occurs. */
char *pe_conninfo_mask_message(const char *conninfo, const char *msg);
char *pe_url_mask_message(const char *url, const char *msg);
/* The same on err->msg in place (err may be NULL). */
void pe_conninfo_mask_error(const char *conninfo, struct pe_error *err);

/* NULL when libpq can parse conninfo; otherwise libpq's reason on one
 * line, with the password masked. */
char *pe_conninfo_problem(const char *conninfo);

#endif
