#!/usr/bin/env bash
# Cron entry point: run one `shop` command from the project's virtualenv with the shop's
# environment (SHOP_DATABASE and the rest, from /etc/edge-shop.env when present).
# Usage: scripts/cron.sh expire-reservations
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f /etc/edge-shop.env ]; then
    set -a
    # shellcheck disable=SC1091
    . /etc/edge-shop.env
    set +a
fi
exec .venv/bin/shop "$@"
