#!/usr/bin/env bash
# poll: device polls per second against flotilla-server with POLL_DEVICES
# (default 100,000) enrolled devices, next to a bare cpprest listener that
# returns a fixed body, measured in the same run with the same load (wrk,
# loopback, bounded by POLL_SECONDS). ratio = ours / bare, the server
# listening directly (--front none); front_polls_per_s is the same server
# behind its default nginx front, front_ratio = through the front / direct.
# Then the same load against PostgreSQL (a durable throwaway cluster on
# loopback, docs/scale-out.md): one server, and two servers on the one
# database with the 32 connections split between them. pg_ratio and
# pg_two_servers_ratio are against the SQLite server of the same run.
# POLL_POSTGRES=0 skips that part (so does a machine without PostgreSQL).
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${POLL_DEVICES:-100000}
seconds=${POLL_SECONDS:-10}
threads=${POLL_SERVER_THREADS:-2}
# A server on PostgreSQL waits on the database for every poll; more threads
# keep the cores busy meanwhile (POLL_PG_SERVER_THREADS, default = threads).
pg_threads=${POLL_PG_SERVER_THREADS:-$threads}
work="$BENCH_OUT/poll"
rm -rf "$work" && mkdir -p "$work"
ninja -C "$FLOTILLA_BIN/.." flotilla-bare-listener | tail -1
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

source bench/lib/server.bash
load() {  # URL OUTFILE
  poll_load "$1" "$seconds" "$devices" "$2"
}

echo "poll: seeding $devices devices"
"$FLOTILLA_BIN/flotilla-server" init --data "$work/data" > /dev/null
"$FLOTILLA_BIN/bench_seed_devices" "$work/data" "$devices" > /dev/null

echo "poll: bare cpprest listener, ${seconds}s"
# A free loopback port: the first one nobody answers on.
for port in $(shuf -i 20000-60000 -n 50); do
  (: > "/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
"$FLOTILLA_BIN/flotilla-bare-listener" "http://127.0.0.1:$port" "$threads" > "$work/bare.url" &
bare_pid=$!
sleep 1
load "http://127.0.0.1:$port" "$work/bare.txt"
kill $bare_pid; wait $bare_pid 2>/dev/null || true
read -r bare_rps bare_p50 bare_p99 bare_errors < <(summarise "$work/bare.txt")

echo "poll: flotilla-server without its front, ${seconds}s"
start_server "$work/data" "$work/server" --threads "$threads" --front none
url=$server_url
load "$url" "$work/server.txt"
rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
stop_server
read -r rps p50 p99 errors < <(summarise "$work/server.txt")
refuse_errors "poll (direct)" "$rps" "$seconds" "$errors"

echo "poll: flotilla-server through its nginx front (the default), ${seconds}s"
start_server "$work/data" "$work/front" --threads "$threads"
load "$server_url" "$work/front.txt"
stop_server
read -r front_rps front_p50 front_p99 front_errors < <(summarise "$work/front.txt")
refuse_errors "poll (through the front)" "$front_rps" "$seconds" "$front_errors"
front_ratio=$(awk -v a="$front_rps" -v b="$rps" 'BEGIN { printf "%.3f", a / b }')

ratio=$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", a / b }')
rss=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
echo "poll: bare ${bare_rps}/s (p99 ${bare_p99} ms), flotilla ${rps}/s (p50 ${p50} ms, p99 ${p99} ms), errors ${errors}, server peak RSS ${rss} MiB"
echo "poll: through the front ${front_rps}/s (p50 ${front_p50} ms, p99 ${front_p99} ms), errors ${front_errors}: ${front_ratio}x direct"
result="RESULT name=poll polls_per_s=$rps ratio=$ratio p50_ms=$p50 p99_ms=$p99 rss_mib=$rss baseline_polls_per_s=$bare_rps errors=$errors devices=$devices"
result+=" front_polls_per_s=$front_rps front_ratio=$front_ratio front_p50_ms=$front_p50 front_p99_ms=$front_p99 front_errors=$front_errors"

pg_info="$work/postgres.info"
if [[ "${POLL_POSTGRES:-1}" == 1 ]] && POSTGRES_DURABLE=1 tests/support/postgres-cluster start "$pg_info" > /dev/null; then
  trap 'cleanup; tests/support/postgres-cluster stop "$pg_info"' EXIT
  cluster=$(sed -n 's/^url=//p' "$pg_info")
  psql -q "$cluster/postgres" -c "CREATE DATABASE flotilla" > /dev/null
  store="$cluster/flotilla"
  echo "poll: seeding $devices devices in PostgreSQL"
  "$FLOTILLA_BIN/flotilla-server" init --data "$work/pg-first" --store "$store" > /dev/null
  "$FLOTILLA_BIN/bench_seed_devices" "$store" "$devices" > /dev/null
  psql -q "$store" -c "VACUUM ANALYZE" > /dev/null
  # The second server joins as docs/scale-out.md says: the report key.
  mkdir -p "$work/pg-second"
  cp "$work/pg-first/report.key" "$work/pg-first/report.pub" "$work/pg-second/"

  echo "poll: flotilla-server on PostgreSQL, ${seconds}s"
  start_server "$work/pg-first" "$work/pg-first/server" --store "$store" --threads "$pg_threads" --front none
  first_pid=$server_pid first_url=$server_url
  load "$first_url" "$work/pg-one.txt"
  read -r pg_rps pg_p50 pg_p99 pg_errors < <(summarise "$work/pg-one.txt")
  refuse_errors "poll (PostgreSQL)" "$pg_rps" "$seconds" "$pg_errors"

  echo "poll: two flotilla-servers on one PostgreSQL, ${seconds}s"
  start_server "$work/pg-second" "$work/pg-second/server" --store "$store" --threads "$pg_threads" --front none
  poll_load "$first_url" "$seconds" "$devices" "$work/pg-two-a.txt" 16 &
  first_load=$!
  poll_load "$server_url" "$seconds" "$devices" "$work/pg-two-b.txt" 16
  wait $first_load
  stop_server
  server_pid=$first_pid
  stop_server
  read -r a_rps a_p50 a_p99 a_errors < <(summarise "$work/pg-two-a.txt")
  read -r b_rps b_p50 b_p99 b_errors < <(summarise "$work/pg-two-b.txt")
  two_rps=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.2f", a + b }')
  two_p99=$(awk -v a="$a_p99" -v b="$b_p99" 'BEGIN { printf "%.3f", (a > b ? a : b) }')
  two_errors=$((a_errors + b_errors))
  pg_ratio=$(awk -v a="$pg_rps" -v b="$rps" 'BEGIN { printf "%.3f", a / b }')
  two_ratio=$(awk -v a="$two_rps" -v b="$rps" 'BEGIN { printf "%.3f", a / b }')
  echo "poll: PostgreSQL one server ${pg_rps}/s (p99 ${pg_p99} ms), two servers ${two_rps}/s (p99 ${two_p99} ms), errors $((pg_errors + two_errors)); SQLite ${rps}/s"
  result+=" pg_server_threads=$pg_threads pg_polls_per_s=$pg_rps pg_ratio=$pg_ratio pg_p50_ms=$pg_p50 pg_p99_ms=$pg_p99 pg_errors=$pg_errors"
  result+=" pg_two_servers_polls_per_s=$two_rps pg_two_servers_ratio=$two_ratio pg_two_servers_p99_ms=$two_p99 pg_two_servers_errors=$two_errors"
else
  echo "poll: PostgreSQL part skipped (POLL_POSTGRES=0, or PostgreSQL is not installed: scripts/setup installs it)"
fi
echo "$result"
