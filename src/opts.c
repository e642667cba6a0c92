/* SPDX-License-Identifier: MIT
 * opts.c - questions about the options (which streams are selected).
 * Owns no state; must not reach into the commands or the pipeline. */
#include "opts.h"

#include <string.h>

bool pe_opts_selected(const struct pe_app_opts *o, const char *name)
{
    if (o->n_streams == 0)
        return true;
    for (size_t i = 0; i < o->n_streams; i++)
        if (strcmp(o->streams[i], name) == 0)
            return true;
    return false;
}

enum pe_status pe_opts_check_selection(const struct pe_app_opts *o,
                                       struct pe_error *err)
{
    for (size_t i = 0; i < o->n_streams; i++)
        if (pe_config_stream(o->cfg, o->streams[i]) == NULL)
            return pe_error_set(err, PE_ERR_USAGE, false,
                                "--stream %s: no such stream in %s",
                                o->streams[i], o->cfg->path);
    return PE_OK;
}
