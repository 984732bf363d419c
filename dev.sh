#!/usr/bin/env bash
# Runs sqlmux locally in front of throwaway MariaDB (primary + replica) and PostgreSQL
# (primary + standby) servers, and prints how to connect. Ctrl-C stops everything and
# removes the servers and their files.
#
# Installs the database servers with apt-get first if they are missing.
# Arguments are passed to sqlmux-dev, e.g. `./dev.sh --mysql-port 7033`.
set -euo pipefail

cd "$(dirname "$0")"

# have, have_pg (and sbin in PATH).
. scripts/have.sh

missing=()
for bin in mariadbd mariadb-install-db mariadb; do
    have "$bin" || missing+=("$bin")
done
for bin in initdb postgres pg_basebackup psql; do
    have_pg "$bin" || missing+=("$bin")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "dev.sh: missing ${missing[*]}; installing MariaDB and PostgreSQL with apt-get ..." >&2
    if ! have apt-get; then
        echo "dev.sh: apt-get not found; install MariaDB (server + client) and PostgreSQL" \
            "(server + client) yourself, then run ./dev.sh again." >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! have sudo; then
            echo "dev.sh: not root and sudo not found; run as root or install:" \
                "mariadb-server mariadb-client postgresql postgresql-client" >&2
            exit 1
        fi
        sudo="sudo"
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
        mariadb-server mariadb-client postgresql postgresql-client
    # The packages may start system services; sqlmux-dev starts its own servers.
    $sudo service mariadb stop || true
    $sudo service postgresql stop || true
fi

if ! have cargo; then
    echo "dev.sh: cargo not found; install Rust (https://rustup.rs) and run ./dev.sh again." >&2
    exit 1
fi

exec cargo run --release -p sqlmux-integration --bin sqlmux-dev -- "$@"
