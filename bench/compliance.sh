#!/usr/bin/env bash
# compliance: exports of a fleet of COMPLIANCE_DEVICES (default 100,000)
# devices x 3 components from the SQLite store through the running server:
# wall time of the CSV export and of the signed export (curl to a file),
# and the server's peak RSS. The same exports of a fleet ten times smaller
# run first, so the RSS of both sizes shows whether memory grows with the
# fleet (rss_growth = large / small). seconds = the slower of CSV and signed.
# Baseline, same run: sqlite3's own CSV output of the same devices joined
# with their components (reading the data, no judging) — csv_ratio = our
# CSV export / that. Then, unless COMPLIANCE_1M=0, the same exports of
# 1,000,000 devices x 3 components (seeding takes about 80 s here; the files
# take about 7 GB under BENCH_OUT while it runs): seconds_1m (the slower
# of the two), csv_seconds_1m, signed_seconds_1m, rss_mib_1m.
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${COMPLIANCE_DEVICES:-100000}
work="$BENCH_OUT/compliance"
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source bench/lib/server.bash

baseline='{"name": "bench", "max_staleness": "48h", "rules": [
  {"device_types": ["gw-x1", "cam-2"], "component": "rootfs", "min_version": "2.3.0", "deadline": "2099-01-01T00:00:00Z"},
  {"device_types": ["gw-x1", "cam-2"], "component": "bootloader", "min_version": "1.1.0", "deadline": "2026-01-01T00:00:00Z"},
  {"device_types": ["gw-x1", "cam-2"], "component": "modem", "min_version": "5.2.0"}]}'

now_s() { date +%s.%N; }
# run SIZE: seeds SIZE devices, exports CSV then signed; prints
# "csv_seconds signed_seconds rss_mib csv_bytes signed_bytes".
run() {
  local size=$1 data="$work/data-$1"
  "$FLOTILLA_BIN/flotilla-server" init --data "$data" > /dev/null
  "$FLOTILLA_BIN/bench_seed_devices" "$data" "$size" 3 > /dev/null
  start_server "$data" "$work/server-$size"
  local auth="Authorization: Bearer $(cat "$data/admin.token")"
  curl -fsS -X PUT -H "$auth" --data "$baseline" "$server_url/api/v1/baselines/bench" > /dev/null
  local t0 t1 t2
  t0=$(now_s)
  curl -fsS -H "$auth" -o "$work/report-$size.csv" "$server_url/api/v1/compliance?baseline=bench&format=csv"
  t1=$(now_s)
  curl -fsS -H "$auth" -o "$work/report-$size.signed.json" "$server_url/api/v1/compliance?baseline=bench&format=signed"
  t2=$(now_s)
  local rss_kib
  rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
  curl -fsS -H "$auth" -o "$work/report-key-$size.pub" "$server_url/api/v1/trust/report-key"
  stop_server
  local t3 t4
  t3=$(now_s)
  sqlite3 -csv "$data/flotilla.db" "SELECT d.id, d.device_type, d.labels, c.component, c.version, c.security_version,
      s.last_seen, d.report_counter, d.inventory_digest FROM devices d JOIN device_components c ON c.device = d.key
      LEFT JOIN device_seen s ON s.device = d.key ORDER BY d.key, c.component" > "$work/sqlite-$size.csv"
  t4=$(now_s)
  awk -v a="$t3" -v b="$t4" 'BEGIN { printf "%.3f\n", b - a }' > "$work/sqlite-$size.seconds"
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v r="$rss_kib" -v cs="$(stat -c %s "$work/report-$size.csv")" \
      -v ss="$(stat -c %s "$work/report-$size.signed.json")" \
      'BEGIN { printf "%.3f %.3f %.1f %d %d\n", b - a, c - b, r / 1024, cs, ss }'
}

small=$((devices / 10))
echo "compliance: $small devices x 3 components"
read -r small_csv small_signed small_rss _ _ < <(run "$small")
echo "compliance: csv ${small_csv}s, signed ${small_signed}s, server peak RSS ${small_rss} MiB"
echo "compliance: $devices devices x 3 components"
read -r csv_s signed_s rss csv_bytes signed_bytes < <(run "$devices")
echo "compliance: csv ${csv_s}s ($csv_bytes bytes), signed ${signed_s}s ($signed_bytes bytes), server peak RSS ${rss} MiB"
# The signed report must verify offline, with the counts adding up.
"$FLOTILLA_BIN/flotilla" compliance verify "$work/report-$devices.signed.json" --key "$work/report-key-$devices.pub" \
  > "$work/verify.txt"
grep -q "^$devices devices in $((devices * 3)) rows" "$work/verify.txt" ||
  { echo "the signed report did not verify as expected; see $work/verify.txt" >&2; exit 1; }
rows=$(($(wc -l < "$work/report-$devices.csv") - 1))
[[ $rows -eq $((devices * 3)) ]] || { echo "the CSV has $rows rows, expected $((devices * 3))" >&2; exit 1; }
seconds=$(awk -v a="$csv_s" -v b="$signed_s" 'BEGIN { printf "%.3f", (a > b ? a : b) }')
sqlite_s=$(cat "$work/sqlite-$devices.seconds")
csv_ratio=$(awk -v a="$csv_s" -v b="$sqlite_s" 'BEGIN { printf "%.2f", a / b }')
echo "compliance: sqlite3 -csv of the same rows ${sqlite_s}s; our CSV export / that = $csv_ratio"
growth=$(awk -v a="$rss" -v b="$small_rss" 'BEGIN { printf "%.2f", a / b }')
rm -rf "$work"/data-* "$work"/report-*
result="RESULT name=compliance seconds=$seconds signed_seconds=$signed_s csv_seconds=$csv_s csv_ratio=$csv_ratio baseline_seconds=$sqlite_s rss_mib=$rss rss_mib_small=$small_rss rss_growth=$growth devices=$devices rows=$rows csv_bytes=$csv_bytes signed_bytes=$signed_bytes"
if [[ "${COMPLIANCE_1M:-1}" == 1 ]]; then
  echo "compliance: 1000000 devices x 3 components"
  read -r csv_1m signed_1m rss_1m _ _ < <(run 1000000)
  rows_1m=$(($(wc -l < "$work/report-1000000.csv") - 1))
  [[ $rows_1m -eq 3000000 ]] || { echo "the 1M CSV has $rows_1m rows, expected 3000000" >&2; exit 1; }
  echo "compliance: csv ${csv_1m}s, signed ${signed_1m}s, server peak RSS ${rss_1m} MiB"
  seconds_1m=$(awk -v a="$csv_1m" -v b="$signed_1m" 'BEGIN { printf "%.3f", (a > b ? a : b) }')
  rm -rf "$work"/data-* "$work"/report-* "$work"/sqlite-*.csv
  result+=" seconds_1m=$seconds_1m csv_seconds_1m=$csv_1m signed_seconds_1m=$signed_1m rss_mib_1m=$rss_1m"
fi
echo "$result"
