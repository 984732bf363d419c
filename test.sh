#!/usr/bin/env bash
# Runs the whole test suite (`cargo test --workspace`, arguments passed through), after
# installing what the integration tests drive and is missing here: the database servers,
# PgBouncer, etcd and Patroni, the client programs (mariadb, psql, sysbench, pgbench, PHP
# mysqli, Debian's MySQLdb), Python modules for the `python3` on PATH (PyMySQL, psycopg2)
# and the Node driver (node-mysql2). It says what it installs.
#
#   ./test.sh                 install what is missing, then test
#   ./test.sh -p sqlmux-proxy these arguments go to `cargo test --workspace`
#   ./test.sh --dry-run       only print what is missing and the commands that would install it
#
# Debian packages come from apt-get, as root or through sudo. Where that is impossible the
# script stops before testing and prints the exact command to run.
set -euo pipefail

cd "$(dirname "$0")"

dry_run=false
if [ "${1:-}" = "--dry-run" ]; then
    dry_run=true
    shift
fi

# have, have_pg (and sbin in PATH).
. scripts/have.sh

# Debian packages, each with what shows it is there.
packages=()
need() {
    local package="$1"
    shift
    local check
    for check in "$@"; do
        if ! eval "$check" >/dev/null 2>&1; then
            packages+=("$package")
            echo "test.sh: missing $package ($check failed)" >&2
            return
        fi
    done
}
need mariadb-server "have mariadbd" "have mariadb-install-db"
need mariadb-client "have mariadb"
need postgresql "have_pg initdb" "have_pg postgres"
need postgresql-client "have psql" "have pg_basebackup" "have pgbench"
need pgbouncer "have pgbouncer"
need etcd-server "have etcd"
need etcd-client "have etcdctl"
need patroni "have patroni" "have patronictl"
need curl "have curl"
need sysbench "have sysbench"
need php-cli "have php"
need php-mysql "php -r 'exit(extension_loaded(\"mysqli\") ? 0 : 1);'"
need python3-mysqldb "/usr/bin/python3 -c 'import MySQLdb'"
need libmariadb-dev "test -e /usr/include/mariadb/mysql.h"
need pkg-config "have pkg-config"
# A NodeSource nodejs ships npm (Debian's npm would conflict with it).
if ! have npm; then
    need nodejs "have node"
    packages+=(npm)
    echo "test.sh: missing npm" >&2
fi

# Python modules of the `python3` on PATH.
modules=()
for pair in pymysql:pymysql psycopg2:psycopg2-binary; do
    module="${pair%%:*}"
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        modules+=("${pair#*:}")
        echo "test.sh: missing Python module $module for $(command -v python3 || echo python3)" >&2
    fi
done

# node-mysql2, pinned by integration/node/package-lock.json.
node_modules=false
if [ ! -d integration/node/node_modules/mysql2 ]; then
    node_modules=true
    echo "test.sh: missing integration/node/node_modules (node-mysql2)" >&2
fi

sudo=""
if [ "$(id -u)" -ne 0 ] && have sudo && sudo -n true 2>/dev/null; then
    sudo="sudo"
fi
apt_command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages[*]:-}"
pip_command="python3 -m pip install ${modules[*]:-}"
npm_command="npm ci --no-audit --no-fund --prefix integration/node"

if $dry_run; then
    if [ "${#packages[@]}" -eq 0 ] && [ "${#modules[@]}" -eq 0 ] && ! $node_modules; then
        echo "test.sh: nothing to install"
    fi
    [ "${#packages[@]}" -gt 0 ] && echo "would run: ${sudo:+sudo }sh -c '$apt_command'"
    [ "${#modules[@]}" -gt 0 ] && echo "would run: $pip_command"
    $node_modules && echo "would run: $npm_command"
    exit 0
fi

if [ "${#packages[@]}" -gt 0 ]; then
    if ! have apt-get; then
        echo "test.sh: apt-get not found: install ${packages[*]} (or their equivalents) yourself, then run ./test.sh again." >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
        echo "test.sh: not root and no usable sudo; run this as root, then ./test.sh again:" >&2
        echo "  $apt_command" >&2
        exit 1
    fi
    echo "test.sh: installing ${packages[*]}" >&2
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
    # Package installs may start system services; the tests start their own servers and
    # must not collide with them.
    for service in mariadb mysql postgresql pgbouncer etcd patroni; do
        $sudo service "$service" stop >/dev/null 2>&1 || true
    done
fi

if [ "${#modules[@]}" -gt 0 ]; then
    echo "test.sh: installing Python modules ${modules[*]}" >&2
    python3 -m pip install "${modules[@]}" \
        || python3 -m pip install --break-system-packages "${modules[@]}" \
        || {
            echo "test.sh: pip failed; run this, then ./test.sh again:" >&2
            echo "  $pip_command" >&2
            exit 1
        }
fi

if $node_modules; then
    echo "test.sh: installing node-mysql2 (integration/node)" >&2
    $npm_command
fi

if ! have cargo; then
    echo "test.sh: cargo not found; install Rust (https://rustup.rs) and run ./test.sh again." >&2
    exit 1
fi

exec cargo test --workspace "$@"
