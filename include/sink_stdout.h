/* SPDX-License-Identifier: MIT
 * sink_stdout.h - the dry run as a backend of sink.h: bodies to stdout.
 * Only sink.c (the factory) picks it. */
#ifndef PINEMIT_SINK_STDOUT_H
#define PINEMIT_SINK_STDOUT_H

#include "sink.h"

extern const struct pe_sink_ops pe_sink_stdout_ops;

#endif
