/* SPDX-License-Identifier: MIT
 * sink_rest.h - the Kafka REST proxy v2 backend of sink.h.
 * Only sink.c (the factory) picks it. */
#ifndef PINEMIT_SINK_REST_H
#define PINEMIT_SINK_REST_H

#include "sink.h"

extern const struct pe_sink_ops pe_sink_rest_ops;

#endif
