#!/usr/bin/env bash
# rw vs uWSGI (pyuwsgi) vs gunicorn vs granian (and fastwsgi, bjoern) on this machine; writes
# BENCHMARKS.md.
#
#   benches/compare.sh            # full run: 3 interleaved rounds (~18 min + build)
#   benches/compare.sh --quick    # 1 round, short durations: every scenario once (a smoke test, < 3 min)
#   RW_WHEEL=1 benches/compare.sh # rw from the release wheel (`rw` of target/bench-venv)
#
# Installs what it needs when missing: wrk, nginx and libev-dev (apt-get; bjoern builds against
# libev), pyuwsgi, gunicorn, granian, fastwsgi, bjoern and Django in target/bench-venv (made with
# the python3 on PATH, the one rw embeds), then builds rw with
# `cargo build --release` and runs benches/compare.py (every other option is passed through).
# Exits non-zero if anything fails, including a server that does not start.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[compare.sh] %s\n' "$*" >&2; }

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        log "apt-get update"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
[ -e /usr/include/ev.h ] || need+=(libev-dev)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt_install "${need[@]}"
fi

PY=${PYO3_PYTHON:-python3}
VENV=target/bench-venv
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $($PY --version)"
    mkdir -p target
    "$PY" -m venv "$VENV"
fi
PEER_PKGS=(pyuwsgi gunicorn granian fastwsgi bjoern django)
if ! { [ -x "$VENV/bin/uwsgi" ] && [ -x "$VENV/bin/gunicorn" ] && [ -x "$VENV/bin/granian" ] &&
    "$VENV/bin/python" -c 'import fastwsgi, bjoern, django' 2>/dev/null; }; then
    log "pip install ${PEER_PKGS[*]}"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PEER_PKGS[@]}"
fi

if [ -n "${RW_WHEEL:-}" ]; then
    # The wheel's `rw` script in the bench venv: rw inside that venv's interpreter.
    log "maturin build --release; pip install into $VENV"
    [ -x target/build-venv/bin/maturin ] || { "$PY" -m venv target/build-venv &&
        target/build-venv/bin/pip install -q -r tests/requirements-build.txt; }
    rm -rf target/bench-wheel
    target/build-venv/bin/maturin build --locked --release --quiet --out target/bench-wheel \
        -i "$("$VENV/bin/python" -c 'import sys; print(sys.executable)')"
    "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/bench-wheel/*.whl
    export RW_BIN="$PWD/$VENV/bin/rw" RW_REV="${RW_REV:-$(git rev-parse --short=12 HEAD) (wheel)}"
fi
if [ -n "${RW_BIN:-}" ]; then
    # A binary built elsewhere, e.g. from a clean export of a commit while src/ is being edited:
    #   git archive HEAD | tar -x -C /tmp/rw-head && (cd /tmp/rw-head && cargo build --release)
    #   RW_BIN=/tmp/rw-head/target/release/rw RW_REV=$(git rev-parse --short=12 HEAD) benches/compare.sh
    log "using RW_BIN=$RW_BIN (${RW_REV:-rev unknown}); not building"
    [ -x "$RW_BIN" ] || { log "RW_BIN is not executable"; exit 1; }
else
    log "cargo build --release"
    cargo build --release --locked --quiet
fi

# Scenario 1c holds 1,000 connections open: wrk and every server need more than the usual 1,024
# descriptors (the servers inherit the limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ "$(nproc)" -lt 2 ]; then
    log "needs 2 CPUs (server on CPU 0, wrk on CPU 1)"
    exit 1
fi

# compare.py stops every server it started (by pid) on exit, error or signal; this trap is the
# backstop for the driver itself.
driver=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
        kill -TERM "$driver" 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PY" benches/compare.py "$@" &
driver=$!
status=0
wait "$driver" || status=$?
driver=""
exit "$status"
