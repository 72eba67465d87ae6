#!/usr/bin/env bash
# Everything Townlet needs on a fresh machine, idempotent: a venv with the Python packages,
# the frontend's node_modules, and (with --with-browser) Debian's Chromium for browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=false
[[ "${1:-}" == "--with-browser" ]] && with_browser=true

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "[setup] creating .venv"
    "$python" -m venv .venv
fi
# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
# GPU users: install your CUDA build of torch into .venv first; pip then keeps it.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch (CPU build)"
    .venv/bin/pip install -q "torch==2.13.0"
fi
if ! .venv/bin/python -c "import townlet, playwright, pytest" 2>/dev/null \
    || [[ pyproject.toml -nt .venv/.townlet-installed ]]; then
    echo "[setup] installing Python packages"
    .venv/bin/pip install -q -e ".[dev,gpu]"
    touch .venv/.townlet-installed
fi

if command -v npm >/dev/null; then
    if [[ ! -x frontend/node_modules/.bin/vite || frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]]; then
        echo "[setup] installing frontend packages (npm ci)"
        (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "[setup] npm not found: install Node.js 20+ (https://nodejs.org) for the web page" >&2
fi

if $with_browser && [[ ! -x /usr/bin/chromium || ! -x /usr/bin/prometheus ]]; then
    echo "[setup] installing Chromium and Prometheus (for the monitoring tests) from Debian's packages"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q chromium prometheus
    # The package enables a system Prometheus on :9090; the tests start their own on a free
    # port, so leave none running (no-op where systemd does not run, as in containers).
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        $sudo_cmd systemctl disable --now prometheus prometheus-node-exporter || true
    fi
fi
