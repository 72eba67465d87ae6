#!/usr/bin/env bash
# The whole test suite from a fresh machine: set-up, Python tests (including the end-to-end
# run in headless Chromium), then the frontend's unit tests. Fails if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
.venv/bin/python -m pytest -q
(cd frontend && npm test --silent)
