/* SPDX-License-Identifier: MIT
 * config_read.h - typed getters over libconfig settings, shared by the
 * section readers (config.c, config_sink.c, config_streams.c).
 * Every failure is PE_ERR_CONFIG with a "FILE:LINE: key: problem" message;
 * strings handed out are the caller's to free.  Only the config layer
 * includes this header: libconfig stays inside it. */
#ifndef PINEMIT_CONFIG_READ_H
#define PINEMIT_CONFIG_READ_H

#include <stdbool.h>

#include <libconfig.h>

#include "util.h"

/* Reading context: where we are, for messages. */
struct pe_cfg_reader {
    const char *path;
    struct pe_error *err;
};

/* Fails with "PATH:LINE: key: what" (no LINE when s is NULL or has none). */
enum pe_status pe_cfg_fail(struct pe_cfg_reader *r, const config_setting_t *s,
                           const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Rejects members of `group` not named in `allowed` (NULL-terminated). */
enum pe_status pe_cfg_members(struct pe_cfg_reader *r,
                              const config_setting_t *group, const char *prefix,
                              const char *const *allowed);
/* Optional group: NULL when absent; error when present but not a group. */
enum pe_status pe_cfg_group(struct pe_cfg_reader *r,
                            const config_setting_t *parent, const char *name,
                            const config_setting_t **out);
/* An optional group and its members: pe_cfg_group, then, when present,
 * pe_cfg_members with prefix "<name>." after parent_prefix. */
enum pe_status pe_cfg_section(struct pe_cfg_reader *r,
                              const config_setting_t *parent,
                              const char *parent_prefix, const char *name,
                              const char *const *allowed,
                              const config_setting_t **out);
/* A non-empty string; absent: an error when required, else a copy of def
 * (NULL stays NULL).  grp may be NULL (an absent group).  In the value as
 * written, ${NAME} is the environment variable NAME (an error naming it
 * when unset), ${NAME:-default} the default when NAME is unset or empty,
 * $$ a literal $; any other $ stays.  The default is not expanded; nor
 * is def. */
enum pe_status pe_cfg_string(struct pe_cfg_reader *r,
                             const config_setting_t *grp, const char *prefix,
                             const char *name, bool required, const char *def,
                             char **out);
/* An integer in [min, max]; def when absent.  A literal libconfig wrapped
 * (beyond int) is reported as written. */
enum pe_status pe_cfg_long(struct pe_cfg_reader *r, const config_setting_t *grp,
                           const char *prefix, const char *name, long def,
                           long min, long max, long *out);
/* One of two words (def when absent): *out is 0 for a, 1 for b.  Anything
 * else: "\"VALUE\" is not A or B". */
enum pe_status pe_cfg_choice(struct pe_cfg_reader *r,
                             const config_setting_t *grp, const char *prefix,
                             const char *name, const char *def, const char *a,
                             const char *b, int *out);
/* true or false; false when absent.  The message names prefix+name. */
enum pe_status pe_cfg_bool(struct pe_cfg_reader *r, const config_setting_t *grp,
                           const char *prefix, const char *name, bool *out);

#endif
