#!/usr/bin/env bash
# scripts/test.sh [PYTEST_ARGS...] - the full check: set-up, lint, types, tests.
#
# Runs scripts/setup.sh (system packages + .venv, quiet when nothing changed), then
# ruff, mypy and pytest from .venv. Arguments go to pytest unchanged, e.g.
#   scripts/test.sh tests/unit -x        scripts/test.sh -k threads
# Exit status: 0 only if every step passed; pytest's own status when tests fail; 1 otherwise.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"

fail() { echo "test.sh: FAILED: $*" >&2; exit 1; }

scripts/setup.sh || fail "scripts/setup.sh"
.venv/bin/ruff check . || fail "ruff check"
.venv/bin/ruff format --check --quiet . || fail "ruff format (run: .venv/bin/ruff format .)"
.venv/bin/mypy bridge tests bench || fail "mypy"

status=0
.venv/bin/pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  # pytest's "no tests collected" must not pass as success (a wrong path or -k would hide every test).
  fail "pytest collected no tests (arguments: ${*:-none})"
fi
if [ "$status" -ne 0 ]; then
  echo "test.sh: FAILED: pytest (exit status $status)" >&2
  exit "$status"
fi
