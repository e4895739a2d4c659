#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the server's tests: initdb in a temporary
# directory, started on 127.0.0.1 at a free port with trust auth on loopback
# only, then stopped and removed when this script exits (even on Ctrl-C or a
# failed command). Installs Debian's PostgreSQL (and openssl) through
# scripts/bootstrap.sh when missing.
#
# The cluster accepts TLS (and plain connections): its certificate, for
# 127.0.0.1 and localhost, is signed by a CA made for this run only.
#
#   scripts/postgres.sh COMMAND [ARGS...]   runs COMMAND with
#       OUTBOX_SYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/outbox_test
#       OUTBOX_SYNC_TEST_DATABASE_CA=the throwaway CA's certificate (PEM)
#       and exits with its status, e.g. scripts/postgres.sh cargo test -p outbox-sync-server
#   scripts/postgres.sh                     prints the URL and waits until Ctrl-C
#
# The cluster trades durability for speed (fsync=off): it is for tests only.
# PG_DURABLE=1 keeps PostgreSQL's durable defaults instead (fsync,
# synchronous_commit, full_page_writes on), for benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'postgres.sh: %s\n' "$*" >&2; }

# The newest installed server, e.g. /usr/lib/postgresql/15/bin.
find_bin() {
  find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
    sort -V | tail -n 1 | xargs -r dirname
}
bin=$(find_bin)
if [ -z "$bin" ] || ! command -v openssl >/dev/null; then
  say "PostgreSQL or openssl is not installed; running scripts/bootstrap.sh to install it"
  scripts/bootstrap.sh
  bin=$(find_bin)
  [ -n "$bin" ] || { say "still no /usr/lib/postgresql/*/bin/initdb after bootstrap; install Debian's postgresql package"; exit 1; }
fi

dir=$(mktemp -d /tmp/outbox-sync-pg.XXXXXX)
chmod 755 "$dir"
# initdb and postgres refuse to run as root: run them as the postgres user,
# which Debian's package creates.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { say "running as root but there is no postgres user; install Debian's postgresql package"; exit 1; }
  chown postgres: "$dir"
  as_db() { runuser -u postgres -- "$@"; }
else
  as_db() { "$@"; }
fi

started=no
cleanup() {
  status=$?
  if [ "$started" = yes ]; then
    as_db "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || say "could not stop the cluster in $dir"
  fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_db "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; say "initdb failed (log above)"; exit 1; }

# A throwaway CA and a server certificate it signs, for 127.0.0.1 and
# localhost; PostgreSQL wants its key owned by the server's user, mode 600.
tls="$dir/tls"
make_certs() {
  mkdir -p "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=outbox-sync test CA" -keyout "$tls/ca.key" -out "$tls/ca.crt"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/server.ext" -out "$tls/server.crt"
}
make_certs >"$dir/openssl.log" 2>&1 ||
  { cat "$dir/openssl.log" >&2; say "making the test certificates failed (log above)"; exit 1; }
chmod 600 "$tls/server.key"
[ "$(id -u)" = 0 ] && chown postgres: "$tls/server.key" "$tls/server.crt"

# A loopback port free right now; another process may take it before the
# server binds, so a failed start tries another port.
free_port() {
  if command -v node >/dev/null; then
    node -e 'const s = require("net").createServer();
      s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

if [ "${PG_DURABLE:-0}" = 1 ]; then
  durability=""
else
  durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi

for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if as_db "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 $durability -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" \
    start >/dev/null; then
    started=yes
    break
  fi
  say "start on port $port failed (attempt $attempt); its log:"
  tail -n 5 "$dir/server.log" >&2 || true
done
[ "$started" = yes ] || { say "PostgreSQL did not start"; exit 1; }

"$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres outbox_test
export OUTBOX_SYNC_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/outbox_test"
export OUTBOX_SYNC_TEST_DATABASE_CA="$tls/ca.crt"
say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $OUTBOX_SYNC_TEST_DATABASE_URL, TLS with CA $OUTBOX_SYNC_TEST_DATABASE_CA (data in $dir, removed on exit)"

if [ $# -eq 0 ]; then
  say "no command given: waiting until Ctrl-C"
  while :; do sleep 3600 & wait $!; done
fi
set +e
"$@"
status=$?
set -e
exit "$status"
