#!/usr/bin/env bash
# Reload storm: RELOADS good reloads (default 20), each of which must finish in under 5 s, with
# BROKEN broken deployments in between (default 10: a config typo, a chdir that is gone, an app
# that fails to import, a socket that cannot be bound; each refused while the running generation
# keeps serving), all under load from 4 clients. Reports the requests that failed and the
# outages (3 s without a successful response); exits non-zero unless both are 0.
#
#   benches/reload-storm.sh                  # 20 reloads, 10 broken, release build
#   RELOADS=50 BROKEN=25 benches/reload-storm.sh
#   PROFILE=dev benches/reload-storm.sh      # the debug build CI tests
#
# It runs the integration test faults::reload_storm_under_load_fails_no_request (which CI runs
# with the defaults) against the real binary; the test venv comes from tests/run.sh or
# $RW_TEST_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
flag=()
[ "$profile" = release ] && flag=(--release)
export RW_STORM_RELOADS=${RELOADS:-20} RW_STORM_BROKEN=${BROKEN:-10}
out=$(cargo test "${flag[@]}" --test it faults::reload_storm_under_load_fails_no_request \
    -- --exact --nocapture 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
printf '%s\n' "$out" | grep '^reload storm:'
