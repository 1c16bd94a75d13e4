#!/usr/bin/env bash
# Quick start, command 1: set up from the pinned requirements and run the app on the embedded default
# (SQLite at data/crm.db, demo campaigns, sandbox CRMs, first-run admin form).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
exec .venv/bin/streamlit run app.py "$@"
