# SPDX-License-Identifier: MIT
# fuzz.mk - libFuzzer targets (included by the Makefile): `make fuzz`
# builds the library again with ASan+UBSan and fuzzer coverage under
# build/fuzz and runs each harness for FUZZ_SECONDS; `make fuzz-build` only
# builds; `make fuzz-crashes` replays the saved inputs in tests/fuzz/crashes.
# Extra libFuzzer flags go in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=4).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_FLAGS   ?=
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
# The Makefile's warnings without -Werror: a new clang warning must not
# stop a fuzzing run.
FUZZ_CFLAGS   = -std=c11 $(WARN) -g -O1 $(FUZZ_SAN)
FUZZ_NAMES   := config response retry_after encode deadletter conninfo
FUZZ_LIBOBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o, \
                    $(filter-out src/main.c,$(SRCS)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

# Longest input per target: a config file, a proxy answer, a header value,
# a row, a dead-letter line, a conninfo and a message.
FUZZ_MAXLEN_config      := 4096
FUZZ_MAXLEN_response    := 4096
FUZZ_MAXLEN_retry_after := 128
FUZZ_MAXLEN_encode      := 1024
FUZZ_MAXLEN_deadletter  := 4096
FUZZ_MAXLEN_conninfo    := 1024
# libconfig 1.5 leaks on some syntax errors (suppressed in fuzz_config.c),
# and every such input would cost a full leak scan: check leaks once, at
# exit, instead of after each input.
FUZZ_OPTS_config        := -detect_leaks=0

.PHONY: fuzz fuzz-build fuzz-crashes

fuzz-build: $(FUZZ_BINS)

# Every harness runs even after one fails, so one run reports them all.
fuzz: $(FUZZ_BINS)
	@rc=0; $(foreach t,$(FUZZ_NAMES),tests/fuzz/run.sh $(t) \
	    $(FUZZ_SECONDS) $(FUZZ_MAXLEN_$(t)) $(FUZZ_DIR) $(FUZZ_OPTS_$(t)) \
	    $(FUZZ_FLAGS) \
	    || rc=1;) exit $$rc

fuzz-crashes: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_NAMES); do \
	    for f in tests/fuzz/crashes/$$t/*; do \
	        [ -f "$$f" ] || continue; \
	        if $(FUZZ_DIR)/fuzz_$$t "$$f" >$(FUZZ_DIR)/replay.log 2>&1; \
	        then echo "fixed:   $$f"; \
	        else echo "crashes: $$f"; rc=1; fi; \
	    done; \
	done; exit $$rc

# Static pattern rules: they cannot capture the Makefile's build/%.o.
$(FUZZ_LIBOBJS): $(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(XCPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -MMD -MP -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIBOBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(XCPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -o $@ $^ $(LDLIBS)

-include $(FUZZ_LIBOBJS:.o=.d)
