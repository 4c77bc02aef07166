#!/usr/bin/env bash
# scheduler: one scheduler pass for a rollout over SCHEDULER_DEVICES
# (default 1,000,000) devices in the SQLite store — time and peak RSS of
# the process doing it — and the device poll rate with an active rollout
# over POLL_DEVICES (default 100,000) against the same server without one,
# measured in the same run with the same load (poll_ratio = with / without).
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${SCHEDULER_DEVICES:-1000000}
poll_devices=${POLL_DEVICES:-100000}
seconds=${POLL_SECONDS:-10}
threads=${POLL_SERVER_THREADS:-2}
work="$BENCH_OUT/scheduler"
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source bench/lib/server.bash

echo "scheduler: seeding $devices devices"
"$FLOTILLA_BIN/flotilla-server" init --data "$work/big" > /dev/null
"$FLOTILLA_BIN/bench_seed_devices" "$work/big" "$devices" > /dev/null
echo "scheduler: one pass over $devices devices"
read -r pass_line < <("$FLOTILLA_BIN/bench_scheduler_pass" "$work/big")
echo "scheduler: $pass_line"
pass_seconds=$(sed -E 's/.*seconds=([0-9.e+-]+).*/\1/' <<< "$pass_line")
pass_rss=$(sed -E 's/.*rss_mib=([0-9.]+).*/\1/' <<< "$pass_line")
offers=$(sed -E 's/.*offers=([0-9]+).*/\1/' <<< "$pass_line")
rm -rf "$work/big"

echo "scheduler: polls with and without an active rollout over $poll_devices devices, ${seconds}s each"
"$FLOTILLA_BIN/flotilla-server" init --data "$work/data" > /dev/null
"$FLOTILLA_BIN/bench_seed_devices" "$work/data" "$poll_devices" > /dev/null
measure() {  # NAME: warm up, then load; prints "rps p50 p99 errors"
  start_server "$work/data" "$work/$1" --threads "$threads"
  # With a rollout, the load starts once the first pass has precomputed
  # its offers: what is measured is polling during an active rollout.
  if [[ $1 == active ]]; then
    for _ in $(seq 300); do grep -q "scheduler: 1 rollout" "$work/$1.log" && break; sleep 0.1; done
  fi
  poll_load "$server_url" 2 "$poll_devices" "$work/$1-warmup.txt"
  poll_load "$server_url" "$seconds" "$poll_devices" "$work/$1.txt"
  stop_server
  summarise "$work/$1.txt"
}
read -r idle_rps idle_p50 idle_p99 idle_errors < <(measure idle)
# The rollout goes in while the server is down (the store is exclusive to
# one process); the restarted server's scheduler then runs a pass over
# every device at its default interval (5 s) and precomputes the canary's
# offers.
"$FLOTILLA_BIN/bench_scheduler_pass" --create-only "$work/data"
read -r active_rps active_p50 active_p99 active_errors < <(measure active)
grep -q "scheduler: 1 rollout" "$work/active.log" || { echo "the scheduler never ran; see $work/active.log" >&2; exit 1; }
passes=$(grep -c "scheduler:" "$work/active.log" || true)

poll_ratio=$(awk -v a="$active_rps" -v b="$idle_rps" 'BEGIN { printf "%.3f", a / b }')
echo "scheduler: pass ${pass_seconds}s, ${pass_rss} MiB, ${offers} offers; polls ${idle_rps}/s without, ${active_rps}/s with an active rollout (p99 ${active_p99} ms)"
echo "RESULT name=scheduler seconds=$pass_seconds rss_mib=$pass_rss poll_ratio=$poll_ratio devices=$devices offers=$offers polls_per_s=$active_rps baseline_polls_per_s=$idle_rps p99_ms=$active_p99 errors=$((idle_errors + active_errors))"
