#!/usr/bin/env bash
# A short fuzz run of every target: FUZZ_SECONDS each (default 60). Needs a nightly toolchain and
# cargo-fuzz (installed on first use); skipped with a message when nightly is absent.
# Long runs: FUZZ_SECONDS=3600 fuzz/run.sh http_head   (one target, an hour; corpus kept in
# fuzz/corpus/<target>, crashes in fuzz/artifacts/<target>).
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-60}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz/run.sh: no nightly toolchain (rustup toolchain install nightly); skipping" >&2
    exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== cargo install cargo-fuzz" >&2
    cargo install --locked cargo-fuzz >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for t in "${targets[@]}"; do
    echo "== $t: ${secs} s" >&2
    # -rss_limit_mb bounds memory; -max_len keeps inputs around a request head's size.
    cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=16384
done
echo "fuzz/run.sh: ${#targets[@]} targets, ${secs} s each, no crash" >&2
