# SPDX-License-Identifier: MIT
# bench.mk - `make bench`: pinemit beside the alternatives (COPY floor, two
# Python clients, psql | curl) against one fast C sink; see scripts/bench.sh.
# Included by the main Makefile; alone: make -f Makefile -f tests/bench/bench.mk bench
#
#   make bench [ROWS=100000] [REPS=3] [SUBSET=5000] [BIG=1] [UPDATE_DOCS=1]
#              [DELAY_MS=0] (the sink holds each answer that long)

BENCH_DIR := $(BUILD)/bench
BENCH_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror

.PHONY: bench bench-sink-test bench-rss

$(BENCH_DIR)/sink: tests/bench/sink.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_DIR)/loadgen: tests/bench/loadgen.c
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $<

## bench: pinemit beside COPY, Python and psql|curl; table in build/bench/
bench: $(BENCH_DIR)/sink $(BENCH_DIR)/loadgen
	BUILD=$(abspath $(BUILD)) DELAY_MS=$(DELAY_MS) scripts/bench.sh

## bench-sink-test: the benchmark sink against Python's json (longer run)
bench-sink-test: $(BENCH_DIR)/sink
	SINK=$(abspath $(BENCH_DIR)/sink) SINK_FUZZ_N=$${SINK_FUZZ_N:-20000} \
	    /usr/bin/python3 tests/bench/test_sink.py

## bench-rss: where pinemit's peak memory goes (smaps at the peak of one run)
bench-rss: $(BUILD)/pinemit $(BENCH_DIR)/sink
	BUILD=$(abspath $(BUILD)) tests/bench/rss.sh
