#!/usr/bin/env bash
# Quick start, command 2: set up from the project's own pinned files and run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/run_tests.sh tests/crm -x).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Browser tests drive Debian's chromium; never `playwright install` (it downloads a browser).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/bandit -q -c pyproject.toml -r crm data service ui views app.py
set +e
# Two workers by default (CI machines have 2 cores); PYTEST_WORKERS=0 runs in one process.
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): treated as success" >&2
  rc=0
fi
exit "$rc"
