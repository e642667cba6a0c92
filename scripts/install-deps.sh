#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh - install what pinemit needs to build and test, if missing.
# Idempotent: a package already installed is left alone.  apt-get on
# Debian/Ubuntu, dnf on Amazon Linux/Fedora/RHEL.  Run as root (or with sudo).
set -eu

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi

if command -v apt-get >/dev/null 2>&1; then
    pkgs="build-essential pkg-config libcurl4-openssl-dev libcjson-dev
          libpq-dev libconfig-dev libcmocka-dev postgresql python3 curl
          valgrind clang cppcheck openssl util-linux mandoc"
    missing=
    for p in $pkgs; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed'; then
            missing="$missing $p"
        fi
    done
    if [ -n "$missing" ]; then
        echo "install-deps: installing:$missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        # shellcheck disable=SC2086
        $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    # clang's sanitizer and libFuzzer runtimes (make asan, make fuzz): a
    # separate package on Debian 12; best effort elsewhere.
    v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
    if [ -n "$v" ] && ! dpkg-query -W -f='${Status}' "libclang-rt-$v-dev" 2>/dev/null |
        grep -q 'install ok installed'; then
        $SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$v-dev" \
            >/dev/null 2>&1 || true
    fi
    # Node.js and npm run kinesalite, the Kinesis stand-in of the tests; a
    # node already on the PATH (from any source) is fine.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "install-deps: installing: nodejs npm" >&2
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
elif command -v dnf >/dev/null 2>&1; then
    pkgs="gcc make pkgconf-pkg-config libcurl-devel cjson-devel
          libpq-devel libconfig-devel libcmocka-devel postgresql-server
          postgresql python3 curl openssl util-linux nodejs npm"
    missing=
    for p in $pkgs; do
        rpm -q "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "install-deps: installing:$missing" >&2
        # shellcheck disable=SC2086
        $SUDO dnf install -y -q $missing
    fi
else
    echo "install-deps: no apt-get or dnf; install by hand: libcurl, cJSON," \
        "libpq, libconfig, cmocka (development files), PostgreSQL server," \
        "python3" >&2
    exit 69
fi
