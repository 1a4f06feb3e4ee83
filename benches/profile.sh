#!/usr/bin/env bash
# Profile rw on scenarios 1-2 (hello keep-alive and `Connection: close`) and write the
# "Where rw's time goes" section of BENCHMARKS.md (after compare.py's marker line).
# Needs what compare.sh installs, plus valgrind, strace and perf (apt-get when missing).
# RW_BIN / RW_REV as for compare.sh; otherwise builds rw with `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
[ -x target/bench-venv/bin/uwsgi ] || { echo "run benches/compare.sh first (it makes target/bench-venv)" >&2; exit 1; }
if [ -z "${RW_BIN:-}" ]; then
    cargo build --release --locked --quiet
fi
exec "${PYO3_PYTHON:-python3}" benches/profile.py "$@"
