#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine (Python 3.11 + pip; root for apt) and run them.
#   bash scripts/run_tests.sh            # the whole suite
#   bash scripts/run_tests.sh -k synth   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the reader-study browser tests (Playwright drives /usr/bin/chromium).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# constraints.txt pins the CPU build of torch (see README); users on GPUs install their own torch first.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all,test]"

.venv/bin/ruff check src tests benchmarks
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" -q "$@"
