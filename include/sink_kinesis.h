/* SPDX-License-Identifier: MIT
 * sink_kinesis.h - the Kinesis Data Streams (PutRecords) backend of sink.h.
 * Only sink.c (the factory) picks it. */
#ifndef PINEMIT_SINK_KINESIS_H
#define PINEMIT_SINK_KINESIS_H

#include "sink.h"

extern const struct pe_sink_ops pe_sink_kinesis_ops;

#endif
