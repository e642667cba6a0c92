/* SPDX-License-Identifier: MIT
 * fuzz.h - what every libFuzzer harness here shares: the entry point's
 * prototype and a check that survives -DNDEBUG. */
#ifndef PINEMIT_FUZZ_H
#define PINEMIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() rather than assert(): the check must survive -DNDEBUG. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
