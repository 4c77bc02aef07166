#!/usr/bin/env bash
# dashboard: what one open dashboard asks of the server, at a fleet of
# DASHBOARD_DEVICES (default 100,000) devices x 3 components. The overview
# page reads five routes on every refresh (every 4 s); each is timed with
# curl, the median of 5 (seconds). overview_seconds = the sum: the server
# time one refresh costs. summary_seconds = GET /devices/summary alone.
# Baseline, same run: sqlite3 running the same GROUP BY on the same file
# (summary_ratio = our route / that: HTTP, auth, JSON on top of the query).
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${DASHBOARD_DEVICES:-100000}
work="$BENCH_OUT/dashboard"
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source bench/lib/server.bash

data="$work/data"
"$FLOTILLA_BIN/flotilla-server" init --data "$data" > /dev/null
echo "dashboard: seeding $devices devices x 3 components"
"$FLOTILLA_BIN/bench_seed_devices" "$data" "$devices" 3 > /dev/null
start_server "$data" "$work/server"
auth="Authorization: Bearer $(cat "$data/admin.token")"
curl -fsS -X PUT -H "$auth" --data '{"name": "bench", "rules": [
  {"device_types": ["gw-x1", "cam-2"], "component": "rootfs", "min_version": "2.3.0"}]}' \
  "$server_url/api/v1/baselines/bench" > /dev/null

# median_seconds PATH: the median of 5 timed GETs.
median_seconds() {
  for _ in 1 2 3 4 5; do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "$auth" "$server_url/api/v1$1"
  done | sort -n | sed -n 3p
}
total=0
for path in /devices/summary '/compliance/summary?baseline=bench' /rollouts '/devices?tampered=true&limit=20' /baselines; do
  seconds=$(median_seconds "$path")
  echo "dashboard: GET $path ${seconds}s"
  total=$(awk -v a="$total" -v b="$seconds" 'BEGIN { printf "%.4f", a + b }')
  case $path in
    /devices/summary) summary=$seconds ;;
    /compliance/summary*) compliance=$seconds ;;
  esac
done
rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
stop_server

now=$(date +%s)
baseline_runs=$(for _ in 1 2 3 4 5; do
  start=$(date +%s.%N)
  sqlite3 "$data/flotilla.db" "SELECT d.device_type, d.status, d.tampered,
      CASE WHEN s.last_seen IS NULL THEN 'never' WHEN s.last_seen >= $now - 300 THEN '5m'
      WHEN s.last_seen >= $now - 3600 THEN '1h' WHEN s.last_seen >= $now - 86400 THEN '24h' ELSE 'older' END, count(*)
      FROM devices d LEFT JOIN device_seen s ON s.device = d.key GROUP BY 1, 2, 3, 4" > /dev/null
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.4f\n", b - a }'
done | sort -n | sed -n 3p)
ratio=$(awk -v a="$summary" -v b="$baseline_runs" 'BEGIN { printf "%.2f", a / b }')
echo "dashboard: sqlite3 GROUP BY ${baseline_runs}s; /devices/summary / that = $ratio"
rm -rf "$data"
echo "RESULT name=dashboard overview_seconds=$total summary_seconds=$summary compliance_summary_seconds=$compliance baseline_seconds=$baseline_runs summary_ratio=$ratio rss_mib=$rss devices=$devices"
