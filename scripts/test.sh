#!/usr/bin/env bash
# Quickstart 2: install everything the tests need (Python packages and the pinned wrangler)
# and run the whole suite. Extra arguments go to pytest.
source "$(dirname "$0")/_venv.sh" "[test]"
# The pinned wrangler, reinstalled only when package-lock.json changed.
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.shop-lock-sha256 2>/dev/null)" != "$lock" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock" > node_modules/.shop-lock-sha256
fi
.venv/bin/ruff check .
# A throwaway PostgreSQL for the tests that run on both engines (scripts/_postgres.sh).
source scripts/_postgres.sh
start_test_postgres
# Debian's chromium for the real-browser tests (scripts/_browser.sh), installed when missing.
source scripts/_browser.sh
find_test_browser
# Two passes at once: the suite on SQLite, and the same suite on PostgreSQL
# (SHOP_TEST_ENGINE=postgresql: every test but those marked sqlite_only or engine_fixed;
# tests/conftest.py says what it deselected). Side by side they take about as long as the
# longer one on a 2-core machine, not the two added up. The PostgreSQL pass writes to a
# file, printed once the SQLite pass is done.
pg_pid=""
if [ -n "${SHOP_TEST_DATABASE_URL:-}" ]; then
    pg_log=$(mktemp)
    SHOP_TEST_ENGINE=postgresql .venv/bin/python -m pytest "$@" >"$pg_log" 2>&1 &
    pg_pid=$!
fi
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    status=1
fi
if [ -z "$pg_pid" ]; then
    echo "the PostgreSQL pass did not run: ${SHOP_TEST_POSTGRES_UNAVAILABLE:-no server}" >&2
    [ "${CI:-}" = "true" ] && exit 1
    exit "$status"
fi
echo "--- the same suite on PostgreSQL (all but sqlite_only and engine_fixed) ---"
set +e
wait "$pg_pid"
pg_status=$?
set -e
cat "$pg_log"
rm -f "$pg_log"
# Exit 5 there means the selection has nothing for PostgreSQL (a -k that picks only
# SQLite's tests), which is not a failure.
[ "$pg_status" -eq 5 ] && pg_status=0
[ "$status" -ne 0 ] && exit "$status"
exit "$pg_status"
