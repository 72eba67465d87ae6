#!/usr/bin/env bash
# The page side of a split set-up, on the laptop: only the web page, for a trainer elsewhere.
#   bash scripts/run_ui.sh --remote gpu-box [--port 8766] [--token TOKEN] [run_demo.py flags]
# --remote HOST stands for --trainer-url http://HOST:PORT (PORT from --port, default 8766).
# Without --remote it runs the whole demo here (all-local), exactly as run_demo.py does.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3

remote=""
port=8766
passed=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --remote)
            [[ $# -ge 2 ]] || { echo "run_ui.sh: --remote needs a host name or address" >&2; exit 2; }
            remote="$2"
            shift 2
            ;;
        --port)
            [[ $# -ge 2 ]] || { echo "run_ui.sh: --port needs a number" >&2; exit 2; }
            port="$2"
            shift 2
            ;;
        *)
            passed+=("$1")
            shift
            ;;
    esac
done
if [[ -n $remote ]]; then
    # An IPv6 address needs brackets in a URL.
    [[ $remote == *:* && $remote != \[* ]] && remote="[$remote]"
    exec "$python" run_demo.py --trainer-url "http://$remote:$port" "${passed[@]+"${passed[@]}"}"
fi
exec "$python" run_demo.py --port "$port" "${passed[@]+"${passed[@]}"}"
