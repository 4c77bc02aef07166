#!/usr/bin/env bash
# fleet: FLEET_DEVICES (default 10,000) simulated devices — the real agent
# code in flotilla-fleet-sim, one process — against one server on this
# machine, through a three-wave rollout (1 %, 10 %, 100 %). Prints the time
# from creating the rollout to its completion, the polls per second the
# server answered, failed requests (sim cycles that failed + server 5xx),
# and both processes' peak RSS. The baseline is the fleet's own demand:
# polls_ratio = polls served / (devices / poll interval), 1.0 = nobody
# fell behind.
# The gateway mix: FLEET_GATEWAYS (default 100) field gateways, each with
# FLEET_CHILDREN (default 50) simulated MCUs behind the example adapter
# (docs/gateway.md), poll with the fleet and take the OS rollout; then a
# firmware rollout over every child, timed apart (child_rollout_seconds).
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
devices=${FLEET_DEVICES:-10000}
gateways=${FLEET_GATEWAYS:-100}
children_per_gateway=${FLEET_CHILDREN:-50}
children=$((gateways * children_per_gateway))
interval=${FLEET_POLL_INTERVAL:-30}
limit=${FLEET_TIMEOUT:-900}
work="$BENCH_OUT/fleet"
rm -rf "$work" && mkdir -p "$work"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source bench/lib/server.bash
cd "$work"
flotilla=$FLOTILLA_BIN/flotilla

"$flotilla" keygen --out root > /dev/null
"$flotilla" keygen --out release > /dev/null
"$flotilla" root init --root-key root.pub --release-key release.pub --sign root.key -o root.json > /dev/null
head -c 4096 /dev/urandom > os.img
"$flotilla" bundle create --key release.key --name gw-os --kind os --component rootfs --version 2.4.0 \
  --security-version 2 --compatible gw-x1 --compatible gw-x2 --raw-image rootfs=os.img -o os.flb > /dev/null
{ echo "SIMFW component=firmware version=1.1.0 security_version=2"; head -c 16384 /dev/urandom | base64; } > mcu.bin
"$flotilla" bundle create --key release.key --name mcu-fw --kind firmware --component firmware --version 1.1.0 \
  --security-version 2 --compatible mcu-a --raw-image firmware=mcu.bin --reboot none -o mcu.flb > /dev/null
"$FLOTILLA_BIN/flotilla-server" init --data data > /dev/null
start_server "$work/data" "$work/server" --poll-interval "$interval" --scheduler-interval 2
export FLOTILLA_SERVER=$server_url FLOTILLA_TOKEN_FILE=$work/data/admin.token
"$flotilla" trust upload root.json > /dev/null
"$flotilla" bundles upload os.flb mcu.flb > /dev/null
"$flotilla" --json enrollment-tokens create --name bench --device-type gw-x1 --device-type gw-x2 \
  --max-uses "$devices" --expires 2099-01-01T00:00:00Z | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > enroll.token
"$flotilla" --json enrollment-tokens create --name bench-gateways --device-type gw-x1 --gateway \
  --max-uses "$((gateways + 1))" --expires 2099-01-01T00:00:00Z | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > gateway.token
gateway_args=()
if (( gateways > 0 )); then
  gateway_args=(--gateways "$gateways" --children-per-gateway "$children_per_gateway" --child-types mcu-a
                --gateway-enrollment-token-file gateway.token)
fi

echo "fleet: $devices devices and $gateways gateways with $children_per_gateway children each, polling every ${interval}s"
"$FLOTILLA_BIN/flotilla-fleet-sim" --server "$server_url" \
  --enrollment-token-file enroll.token --trust-root root.json --devices "$devices" --types gw-x1:70,gw-x2:30 \
  "${gateway_args[@]}" --poll-interval "${interval}s" --duration "$((2 * limit))s" --threads 16 --dir sim --json > sim.json 2> sim.err &
sim_pid=$!
# Every device enrolled before the rollout starts.
for _ in $(seq "$limit"); do
  accepted=$(curl -fsS -H "Authorization: Bearer $(cat data/admin.token)" "$server_url/metrics" |
    awk '/^flotilla_devices\{status="accepted"\}/ { print $NF }')
  accepted=${accepted:-0}
  [[ $accepted -ge $((devices + gateways + children)) ]] && break
  sleep 1
done
echo "fleet: $accepted devices enrolled (children included)"
cat > rollout.json <<'JSON'
{"name": "bench", "bundle": {"name": "gw-os", "version": "2.4.0"},
 "target": {"device_types": ["gw-x1", "gw-x2"]},
 "waves": [{"name": "canary", "size": "1%"}, {"name": "early", "size": "10%"}, {"name": "all", "size": "100%"}],
 "device_timeout": "10m"}
JSON
polls_before=$(curl -fsS -H "Authorization: Bearer $(cat data/admin.token)" "$server_url/metrics" |
  awk '/flotilla_http_requests_total.*device\/poll/ { n += $NF } END { print n + 0 }')
t0=$(date +%s.%N)
"$flotilla" rollouts create rollout.json > /dev/null
state=running
for _ in $(seq "$limit"); do
  state=$("$flotilla" --json rollouts status 1 | sed -n 's/^  "state": "\([a-z]*\)".*/\1/p' | head -1)
  [[ $state == completed || $state == aborted || $state == paused ]] && break
  sleep 1
done
t1=$(date +%s.%N)
# The children's firmware, through their gateways.
child_state=none child_seconds=0
if (( gateways > 0 )); then
  cat > children.json <<'JSON'
{"name": "bench-children", "bundle": {"name": "mcu-fw", "version": "1.1.0"},
 "target": {"device_types": ["mcu-a"]},
 "waves": [{"name": "canary", "size": "10%"}, {"name": "all", "size": "100%"}],
 "device_timeout": "10m"}
JSON
  c0=$(date +%s.%N)
  "$flotilla" rollouts create children.json > /dev/null
  for _ in $(seq "$limit"); do
    child_state=$("$flotilla" --json rollouts status 2 | sed -n 's/^  "state": "\([a-z]*\)".*/\1/p' | head -1)
    [[ $child_state == completed || $child_state == aborted || $child_state == paused ]] && break
    sleep 1
  done
  child_seconds=$(awk -v a="$c0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
fi
t2=$(date +%s.%N)
metrics=$(curl -fsS -H "Authorization: Bearer $(cat data/admin.token)" "$server_url/metrics")
polls_after=$(awk '/flotilla_http_requests_total.*device\/poll/ { n += $NF } END { print n + 0 }' <<< "$metrics")
server_errors=$(awk '/flotilla_http_requests_total.*status="5/ { n += $NF } END { print n + 0 }' <<< "$metrics")
server_rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
sim_rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$sim_pid/status")
kill -TERM "$sim_pid" 2>/dev/null || true  # it prints its summary
wait "$sim_pid" || true
stop_server
failed_cycles=$(sed -n 's/.*"failed_cycles": \([0-9]*\).*/\1/p' sim.json)
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
polled_seconds=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
polls_per_s=$(awk -v a="$polls_before" -v b="$polls_after" -v s="$polled_seconds" 'BEGIN { printf "%.1f", (b - a) / s }')
ratio=$(awk -v p="$polls_per_s" -v d="$((devices + gateways))" -v i="$interval" 'BEGIN { printf "%.3f", p / (d / i) }')
children_updated=$(tr -d ' \n' < sim.json | sed -n 's/.*"children_by_version":{[^}]*"1.1.0":\([0-9]*\).*/\1/p')
children_updated=${children_updated:-0}
[[ -n $failed_cycles && -n $sim_rss ]] || { echo "the simulator's summary is missing; see $work/sim.json" >&2; exit 1; }
failed=$((failed_cycles + server_errors))
echo "fleet: rollout $state in ${seconds}s; ${polls_per_s} polls/s (demand $(((devices + gateways) / interval))/s); failed requests $failed; server ${server_rss} MiB, simulator ${sim_rss} MiB"
(( gateways == 0 )) || echo "fleet: children's rollout $child_state in ${child_seconds}s; $children_updated of $children children run 1.1.0"
[[ $state == completed ]] || { echo "the rollout did not complete ($state); see $work" >&2; exit 1; }
(( gateways == 0 )) || [[ $child_state == completed ]] || { echo "the children's rollout did not complete ($child_state); see $work" >&2; exit 1; }
echo "RESULT name=fleet seconds=$seconds polls_per_s=$polls_per_s polls_ratio=$ratio failed_requests=$failed server_rss_mib=$server_rss sim_rss_mib=$sim_rss devices=$devices poll_interval_s=$interval gateways=$gateways children=$children child_rollout_seconds=$child_seconds children_updated=$children_updated"
