#!/usr/bin/env bash
# The trainer side of a split set-up, on the GPU machine: training and the live server on every
# address of this machine (a token is generated and printed unless TOWNLET_TOKEN or --token
# gives one), no web page. Extra arguments go to run_demo.py (e.g. --config, --port, --token).
#   bash scripts/run_trainer.sh --config configs/level_1_full_observability.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3

echo "[run_trainer] this machine's addresses (use one with run_ui.sh --remote on the laptop):"
if command -v tailscale >/dev/null 2>&1; then
    for address in $(tailscale ip -4 2>/dev/null || true); do
        echo "    $address (Tailscale)"
    done
fi
if command -v hostname >/dev/null 2>&1; then
    for address in $(hostname -I 2>/dev/null || true); do
        echo "    $address"
    done
fi
exec "$python" run_demo.py --host 0.0.0.0 --no-frontend --no-browser "$@"
