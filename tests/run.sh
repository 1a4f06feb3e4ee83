#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a fresh machine, then
# runs the same checks CI runs. Safe to re-run: every install step is skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# -- system packages the integration tests drive (real peers, never mocks)
need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
# nginx's stream module sends the PROXY protocol header (http-enable-proxy-protocol tests).
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need_apt+=(libnginx-mod-stream)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v systemd-socket-activate >/dev/null 2>&1 || need_apt+=(systemd)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# -- Python packages in a venv made by the interpreter rw embeds (the one pyo3 builds against)
PY=${PYO3_PYTHON:-python3}
VENV=target/test-venv
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $($PY --version)"
    mkdir -p target
    "$PY" -m venv "$VENV"
fi
if ! { "$VENV/bin/python" -c 'import flask, django, prometheus_client, paste.deploy' && [ -x "$VENV/bin/uwsgitop" ] && [ -x "$VENV/bin/uwsgi_curl" ]; } >/dev/null 2>&1; then
    log "pip install test dependencies"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
fi
export RW_TEST_VENV="$PWD/$VENV"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

log "cargo test"
cargo test --locked
