#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind-pinemit.sh - runs build/pinemit under valgrind's memcheck, for
# `make valgrind`: any error or definite leak makes it exit 97.
here=$(cd "$(dirname "$0")/.." && pwd)
exec valgrind -q --error-exitcode=97 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    "${PINEMIT_REAL:-$here/build/pinemit}" "$@"
