# SPDX-License-Identifier: MIT
# pinemit - PostgreSQL rows to the Kafka REST Proxy v2.
# `make help` lists the targets.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PKG_CONFIG ?= pkg-config
VERSION := 0.1.0

PKGS := libpq libcurl libcjson libconfig
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wold-style-definition -Wpointer-arith \
       -Wwrite-strings -Wvla -Wundef -Wimplicit-fallthrough \
       -Wnull-dereference
CFLAGS ?= -O2 -g
XCPPFLAGS = -Iinclude -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
            -DPINEMIT_VERSION='"$(VERSION)"' $(PKG_CFLAGS) $(CPPFLAGS)
XCFLAGS = -std=c11 $(WARN) $(if $(WERROR),-Werror) $(CFLAGS)
LDLIBS += $(PKG_LIBS) -pthread

SRCS := $(wildcard src/*.c)
OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS))
LIBOBJS := $(filter-out $(BUILD)/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(UNIT_SRCS))

SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
      -fno-omit-frame-pointer

.PHONY: all clean install uninstall check unit integration asan tsan valgrind \
        demo deps help bench lint format fuzz coverage man-lint

all: $(BUILD)/pinemit

$(BUILD)/pinemit: $(OBJS)
	$(CC) $(XCFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(XCPPFLAGS) $(XCFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test_%: tests/unit/test_%.c $(LIBOBJS) | $(BUILD)
	$(CC) $(XCPPFLAGS) $(XCFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD):
	mkdir -p $(BUILD)

-include $(OBJS:.o=.d)

# `make fuzz` (libFuzzer targets) and `make bench` (the side-by-side
# benchmark); kept beside their sources.
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk

## bench: pinemit beside COPY, Python and psql+curl on the same data and sink
## bench-rss: where pinemit's peak memory goes (one run, smaps at the peak)
## fuzz: run each libFuzzer target for FUZZ_SECONDS (default 20)

## unit: run the unit tests (cmocka)
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

## integration: run the integration tests (PostgreSQL + mock proxy)
integration: $(BUILD)/pinemit
	PINEMIT=$(abspath $(BUILD)/pinemit) tests/integration/run.sh

## check: every test: unit, mock proxy self-test, integration
check: unit integration
	python3 -m unittest tests/test_mock_proxy.py

## asan: unit and integration tests built with ASan+UBSan (clang)
asan:
	$(MAKE) BUILD=build/asan CC=clang CFLAGS="-O1 -g $(SAN)" \
	    LDFLAGS="$(SAN)" unit integration

## tsan: the integration tests that send streams at once, under TSan (clang)
TSAN_TESTS ?= 001 004 005 007 008 009 011 013 015 026
tsan:
	$(MAKE) BUILD=build/tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" build/tsan/pinemit
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" \
	    PINEMIT=$(abspath build/tsan/pinemit) \
	    tests/integration/run.sh $(TSAN_TESTS)

## valgrind: unit tests and timing-independent integration tests under memcheck
valgrind: $(UNIT_BINS) $(BUILD)/pinemit
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
	    valgrind -q --error-exitcode=1 --leak-check=full \
	    --errors-for-leak-kinds=definite $$t; done
	PINEMIT_REAL=$(abspath $(BUILD)/pinemit) \
	    PINEMIT=$(abspath tests/valgrind-pinemit.sh) \
	    tests/integration/run.sh 001 002 003 004 005 006 011 012 014

## coverage: make check on a --coverage build; prints the share of src/ lines run
coverage:
	rm -rf build/cov
	$(MAKE) BUILD=build/cov CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage" \
	    unit integration
	scripts/coverage.sh build/cov

## deps: install build and test dependencies (apt-get or dnf)
deps:
	scripts/install-deps.sh

## demo: deps, build, throwaway PostgreSQL + mock proxy, a real `pinemit run`
demo: deps
	$(MAKE) all
	scripts/demo.sh $(abspath $(BUILD)/pinemit)

## install: binary, man pages, example config, README, systemd unit (PREFIX, DESTDIR)
DOCDIR ?= $(PREFIX)/share/doc/pinemit
install: $(BUILD)/pinemit
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/pinemit \
	    $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILD)/pinemit $(DESTDIR)$(BINDIR)/pinemit
	install -m 0644 docs/pinemit.1 $(DESTDIR)$(MANDIR)/man1/pinemit.1
	install -m 0644 docs/pinemit.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/pinemit.conf.5
	install -m 0644 conf/pinemit.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/pinemit/pinemit.conf.example
	install -m 0644 README.md docs/records.md docs/reference.md \
	    docs/guarantees.md docs/several-machines.md docs/kinesis.md \
	    docs/architecture.md conf/pinemit.service \
	    conf/pinemit.cron $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pinemit \
	    $(DESTDIR)$(SYSCONFDIR)/pinemit/pinemit.conf.example \
	    $(DESTDIR)$(MANDIR)/man1/pinemit.1 \
	    $(DESTDIR)$(MANDIR)/man5/pinemit.conf.5
	rm -rf $(DESTDIR)$(DOCDIR)

## lint: cppcheck over the sources
lint:
	cppcheck --quiet --enable=warning,performance,portability \
	    --error-exitcode=1 -Iinclude src

## man-lint: mandoc lint of the man pages; every option and setting documented
man-lint: $(BUILD)/pinemit
	tests/man/check.sh $(BUILD)/pinemit

## format: clang-format the sources in place
format:
	clang-format -i src/*.c include/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD)

## help: this list
help:
	@grep -hE '^## [a-z-]+:' Makefile | sed 's/^## /  make /'
