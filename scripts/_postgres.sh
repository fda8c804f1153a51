# Sourced by test.sh: start a throwaway PostgreSQL for the tests, stopped when the script
# exits, and export SHOP_TEST_DATABASE_URL (a unix socket in a temporary folder; trust auth,
# no fsync: the data lives only as long as the run). The binaries are Debian's `postgresql`
# package, installed with apt-get when missing and we are root (CI on a fresh machine). When
# it cannot start, SHOP_TEST_POSTGRES_UNAVAILABLE says why: the PostgreSQL tests then fail
# under CI=true and skip with that reason elsewhere.
_pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

_pg_unavailable() {
    export SHOP_TEST_POSTGRES_UNAVAILABLE="$1"
    echo "PostgreSQL for the tests: $1" >&2
}

start_test_postgres() {
    [ -n "${SHOP_TEST_DATABASE_URL:-}" ] && return 0  # the caller brought its own server
    local bindir run=() owner dir
    if ! bindir=$(_pg_bindir); then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing PostgreSQL (Debian's postgresql package) for the tests" >&2
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                postgresql >/dev/null
        fi
        bindir=$(_pg_bindir) || {
            _pg_unavailable "no initdb found (install Debian's postgresql package)"
            return 0
        }
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/shop-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses to run as root: the server runs as an unprivileged system user.
        owner=shoptest
        id -u "$owner" >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
        chown "$owner" "$dir"
        run=(runuser -u "$owner" --)
    fi
    if ! "${run[@]}" "$bindir/initdb" -D "$dir/data" -U shop -A trust -E UTF8 --no-locale \
            --no-sync >"$dir/initdb.log" 2>&1; then
        _pg_unavailable "initdb failed: $(tail -n 3 "$dir/initdb.log" | tr '\n' ' ')"
        return 0
    fi
    if ! "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o \
            "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_connections=50" start >/dev/null; then
        _pg_unavailable "the server did not start: $(tail -n 3 "$dir/server.log" | tr '\n' ' ')"
        return 0
    fi
    _SHOP_PG=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop)
    _SHOP_PG_DIR=$dir
    trap stop_test_postgres EXIT
    export SHOP_TEST_DATABASE_URL="postgresql://shop@/postgres?host=$dir"
}

stop_test_postgres() {
    [ -n "${_SHOP_PG_DIR:-}" ] || return 0
    "${_SHOP_PG[@]}" >/dev/null 2>&1 || true
    rm -rf "$_SHOP_PG_DIR"
    _SHOP_PG_DIR=
}
