#!/usr/bin/env bash
# Starts a PostgreSQL server from Debian's packages on loopback for the tests, in a data folder of
# the test run, and prints the two variables the tests read (PostgresTestServer):
#   CERTVAULT_TEST_POSTGRES_URL=postgres://certvault@127.0.0.1:PORT/postgres?sslmode=disable
#   CERTVAULT_TEST_POSTGRES_PASSWORD_FILE=FOLDER/password
# FOLDER's parent must be traversable by the postgres user when run as root.
# Usage: eval "$(Tests/Scripts/postgres-server.sh start FOLDER)"; Tests/Scripts/postgres-server.sh stop FOLDER
# The user `certvault` logs in with a password (SCRAM-SHA-256) over TCP, as a deployment would.
# Tests that stop or restart a server start private ones of their own; each test makes its own database.
set -euo pipefail
command=${1:?start or stop}
folder=${2:?data folder}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL's server programs are not installed (apt-get install postgresql)" >&2; exit 1; }
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $command in
start)
    mkdir -p "$folder"
    printf '%s' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')" > "$folder/password"
    chmod 600 "$folder/password"
    [ "$(id -u)" = 0 ] && chown -R postgres "$folder"
    as_server "$bin/initdb" -D "$folder/data" -U certvault --pwfile="$folder/password" --auth-host=scram-sha-256 \
        --auth-local=trust -E UTF8 --locale=C --no-sync >/dev/null
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_server "$bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
        -o "-p $port -h 127.0.0.1 -k $folder -c max_connections=300" start >/dev/null </dev/null
    echo "export CERTVAULT_TEST_POSTGRES_URL='postgres://certvault@127.0.0.1:$port/postgres?sslmode=disable'"
    echo "export CERTVAULT_TEST_POSTGRES_PASSWORD_FILE='$folder/password'"
    ;;
stop)
    as_server "$bin/pg_ctl" -D "$folder/data" -m fast -w stop >/dev/null
    ;;
esac
