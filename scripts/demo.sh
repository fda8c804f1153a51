#!/usr/bin/env bash
# Quickstart 1: install, migrate, load demo data and serve on http://127.0.0.1:8000
# with an embedded SQLite file (var/shop.db unless SHOP_DATABASE says otherwise).
source "$(dirname "$0")/_venv.sh" ""
.venv/bin/shop seed-demo          # migrates first; prints the demo sign-in once
echo "the owner's dashboard: http://${SHOP_BIND:-127.0.0.1:8000}/admin" \
    "(sign in as admin@example.com with the password above)"
exec .venv/bin/shop serve --bind "${SHOP_BIND:-127.0.0.1:8000}"
