#!/usr/bin/env bash
# poll: device polls per second against flotilla-server with POLL_DEVICES
# (default 100,000) enrolled devices, next to a bare cpprest listener that
# returns a fixed body, measured in the same run with the same load (wrk,
# loopback, bounded by POLL_SECONDS). ratio = ours / bare.
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${POLL_DEVICES:-100000}
seconds=${POLL_SECONDS:-10}
threads=${POLL_SERVER_THREADS:-2}
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

echo "poll: flotilla-server, ${seconds}s"
start_server "$work/data" "$work/server" --threads "$threads"
url=$server_url
load "$url" "$work/server.txt"
rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
stop_server
read -r rps p50 p99 errors < <(summarise "$work/server.txt")

ratio=$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", a / b }')
rss=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
echo "poll: bare ${bare_rps}/s (p99 ${bare_p99} ms), flotilla ${rps}/s (p50 ${p50} ms, p99 ${p99} ms), errors ${errors}, server peak RSS ${rss} MiB"
echo "RESULT name=poll polls_per_s=$rps ratio=$ratio p50_ms=$p50 p99_ms=$p99 rss_mib=$rss baseline_polls_per_s=$bare_rps errors=$errors devices=$devices"
