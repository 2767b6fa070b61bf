#!/usr/bin/env bash
# Load of `certvault serve` from a second process on loopback (wrk), against floors measured in
# the same run. Not a test: it prints figures and ratios for docs/benchmarks.md.
#
#   swift build -c release && Tests/Bench/service.sh
#
# Environment: BIN (default .build/release), TENANTS (1000), DURATION (wrk seconds, 10),
# CONNECTIONS (64), THREADS (wrk threads, 2), TLS (0: plain HTTP on loopback; 1: self-signed TLS),
# KEEP (1: keep the work folder). Needs wrk (Debian package `wrk`) and curl.
#
# What it does:
#   1. a vault of TENANTS synthetic tenants (certvault-test-writer fill; real entry format);
#   2. a configuration file, a token with tenants:read and credentials:read (certvault token create);
#   3. certvault serve in the background, waiting for /healthz;
#   4. wrk: GET /healthz (the constant-answer floor) and GET /v1/tenants/{tenant} over random
#      tenants; the ratio metadata/floor (goal >= 0.5);
#   5. wrk: GET /v1/tenants/{tenant}/credential?purpose=... over random tenants (every read has
#      its audit record fsynced before the answer), against certvault-bench audit (in-process
#      group commit, and one fsync per read done directly) in the same run (goal >= 2,000/s);
#   6. the service's memory (VmRSS, VmHWM) after the load, and an audit verify.
set -euo pipefail

BIN=${BIN:-.build/release}
TENANTS=${TENANTS:-1000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TLS=${TLS:-0}
for tool in wrk curl python3; do
    command -v "$tool" > /dev/null || { echo "service.sh: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
for program in certvault certvault-bench certvault-test-writer; do
    [ -x "$BIN/$program" ] || { echo "service.sh: $BIN/$program is missing: run 'swift build -c release' first" >&2; exit 2; }
done
BIN=$(cd "$BIN" && pwd)

WORK=$(mktemp -d /tmp/certvault-service-bench.XXXXXX)
chmod 700 "$WORK"
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2> /dev/null || true; wait "$SERVER" 2> /dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$TLS" = 1 ]; then MODE=self-signed; SCHEME=https; else MODE=plain-loopback; SCHEME=http; fi
URL="$SCHEME://127.0.0.1:$PORT"

echo "certvault service benchmark: $(nproc) cores, $TENANTS tenants, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $MODE"
"$BIN/certvault-test-writer" fill "$WORK/vault" "$WORK/vault-key/root.key" "$TENANTS" 1 2600 0
mkdir -p "$WORK/policy/access" && chmod 700 "$WORK/policy"
cp -r "$(dirname "$0")/../../policy/." "$WORK/policy/" 2> /dev/null || true
cat > "$WORK/certvault.toml" << TOML
[listen]
host = "127.0.0.1"
port = $PORT
[tls]
mode = "$MODE"
[vault]
path = "$WORK/vault"
key_file = "$WORK/vault-key/root.key"
[tokens]
store = "$WORK/vault/tokens"
[policy]
folder = "$WORK/policy"
[limits]
blocking_threads = 8
TOML
export CERTVAULT_CONFIG="$WORK/certvault.toml"

TOKEN=$("$BIN/certvault" token create --config "$CERTVAULT_CONFIG" --name bench --scope tenants:read,credentials:read \
    | grep -o 'cvt_[A-Za-z0-9_-]*' | head -1)
[ -n "$TOKEN" ] || { echo "service.sh: 'certvault token create' printed no token" >&2; exit 1; }

"$BIN/certvault" serve --config "$CERTVAULT_CONFIG" > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
    curl -fsk "$URL/healthz" > /dev/null 2>&1 && break
    kill -0 "$SERVER" 2> /dev/null || { echo "service.sh: certvault serve exited:" >&2; tail -20 "$WORK/serve.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsk "$URL/healthz" > /dev/null || { echo "service.sh: certvault serve did not answer /healthz" >&2; exit 1; }
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/tenants/synthetic0")
[ "$code" = 200 ] || { echo "service.sh: GET /v1/tenants/synthetic0 answered $code" >&2; exit 1; }

# Random tenants, the token in a header (never in argv of a long-lived process but wrk's, for the run).
cat > "$WORK/random.lua" << LUA
local path = os.getenv("BENCH_PATH")
local tenants = tonumber(os.getenv("BENCH_TENANTS"))
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
request = function()
    if path == "/healthz" then return wrk.format("GET", path) end
    local tenant = "synthetic" .. math.random(0, tenants - 1)
    return wrk.format("GET", (string.gsub(path, "{tenant}", tenant)))
end
done = function(summary, latency, requests)
    io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
LUA

# wrk PATH -> "requests/s p50-ms p99-ms non-2xx requests"
load() {
    BENCH_PATH="$1" BENCH_TENANTS="$TENANTS" BENCH_TOKEN="$TOKEN" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/random.lua" "$URL" 2> /dev/null | grep '^RESULT' | cut -d' ' -f2-
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
show() { printf '%-44s %10s req/s   p50 %7s ms   p99 %7s ms   non-2xx %s of %s\n' "$1" $2 $3 $4 $5 $6; }

echo
floor=$(load /healthz); show "GET /healthz (floor)" $floor
meta=$(load "/v1/tenants/{tenant}"); show "GET /v1/tenants/{tenant}" $meta
echo "metadata / floor: $(ratio "${meta%% *}" "${floor%% *}")x (goal >= 0.5)"

echo
cred=$(load "/v1/tenants/{tenant}/credential?purpose=benchmark"); show "GET /v1/tenants/{tenant}/credential" $cred
echo "in-process, same machine, same run (certvault-bench audit, $CONNECTIONS threads, 5 s per mode):"
"$BIN/certvault-bench" audit --threads "$CONNECTIONS" --seconds 5 --tenants "$TENANTS" --work "$WORK/inprocess" | tee "$WORK/audit.txt" | grep -E '^ *[0-9]+ '
direct=$(grep 'one fsync per read' "$WORK/audit.txt" | awk '{print $7}')
grouped=$(grep 'group commit' "$WORK/audit.txt" | awk '{print $4}')
echo "credential over HTTP / one fsync per read (direct): $(ratio "${cred%% *}" "$direct")x;" \
     "/ in-process group commit: $(ratio "${cred%% *}" "$grouped")x (goal >= 2000 req/s: ${cred%% *})"

echo
echo "certvault serve memory after the load: $(grep -E 'VmRSS|VmHWM' /proc/$SERVER/status | tr -s ' \t' ' ' | tr '\n' ' ')"
kill -TERM "$SERVER"; wait "$SERVER" 2> /dev/null || true; SERVER=""
"$BIN/certvault" audit verify --vault "$WORK/vault" --key-file "$WORK/vault-key/root.key" > "$WORK/verify.txt" 2>&1 \
    && echo "audit verify after the run: intact ($(grep -c . "$WORK/vault/audit.log") records)" \
    || { echo "audit verify FAILED:"; tail -5 "$WORK/verify.txt"; exit 1; }
