# Sourced by test.sh: find the chromium that the browser tests (tests/browser/) drive through
# Playwright, and export SHOP_TEST_CHROMIUM (its path). It is Debian's `chromium` package,
# installed with apt-get when missing and we are root (CI on a fresh machine); Playwright's
# own browser download (`playwright install`) cannot reach its host here and is never used.
# When there is no usable chromium, SHOP_TEST_BROWSER_UNAVAILABLE says why: the browser
# tests then fail under CI=true and skip with that reason elsewhere.
_browser_unavailable() {
    export SHOP_TEST_BROWSER_UNAVAILABLE="$1"
    echo "chromium for the browser tests: $1" >&2
}

find_test_browser() {
    local chromium=${SHOP_TEST_CHROMIUM:-/usr/bin/chromium} log started
    if [ ! -x "$chromium" ] && [ -z "${SHOP_TEST_CHROMIUM:-}" ] && [ "$(id -u)" = 0 ] &&
            command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium (Debian's chromium package) for the browser tests" >&2
        log=$(mktemp "${TMPDIR:-/tmp}/shop-chromium-apt.XXXXXX")
        started=$SECONDS
        if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    chromium >>"$log" 2>&1; then
            echo "chromium installed in $((SECONDS - started)) s" >&2
        else
            _browser_unavailable "apt-get install chromium failed: $(tail -n 3 "$log" |
                tr '\n' ' ')"
            rm -f "$log"
            return 0
        fi
        rm -f "$log"
    fi
    if [ ! -x "$chromium" ]; then
        _browser_unavailable "no $chromium (install Debian's chromium package: apt install chromium)"
        return 0
    fi
    # A binary that cannot even print its version (missing libraries) is no browser.
    if ! "$chromium" --version >/dev/null 2>&1; then
        _browser_unavailable "$chromium --version failed: $("$chromium" --version 2>&1 |
            tail -n 2 | tr '\n' ' ')"
        return 0
    fi
    export SHOP_TEST_CHROMIUM="$chromium"
}
