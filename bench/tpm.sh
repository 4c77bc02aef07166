#!/usr/bin/env bash
# tpm: what a device key in a TPM (swtpm) costs the agent against a file
# key, same server, same run: a first start (key made, enrollment signed,
# inventory signed; fastest of 3 fresh devices each) and a steady poll
# cycle (`run --once` with nothing to do; fastest of 10). The poll carries
# the bearer token and signs nothing, so its TPM cost is loading the
# provider and the key. swtpm answers faster than a real TPM (which signs
# in 40–70 ms): the first-start figures are a floor for real hardware.
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
work="$BENCH_OUT/tpm"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
flotilla=$FLOTILLA_BIN/flotilla
agent=$FLOTILLA_BIN/flotilla-agent
measure=$FLOTILLA_BIN/bench_measure
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source "$OLDPWD/bench/lib/server.bash"
export GNUTLS_NO_IMPLICIT_INIT=1

# swtpm's TCTI finds its control channel at the next port.
port=""
for _ in $(seq 20); do
  candidate=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $candidate + 1))" 2>/dev/null; then
    port=$candidate; break
  fi
done
[[ -n $port ]] || { echo "tpm: no two free ports in a row" >&2; exit 1; }
mkdir -p tpm-state
swtpm socket --tpm2 --tpmstate dir="$work/tpm-state" --server type=tcp,port=$port,bindaddr=127.0.0.1 \
  --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear &
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
tcti="swtpm:host=127.0.0.1,port=$port"

$flotilla keygen --out root >/dev/null
$flotilla keygen --out release >/dev/null
$flotilla root init --root-key root.pub --release-key release.pub --sign root.key -o root.json >/dev/null
"$FLOTILLA_BIN/flotilla-server" init --data server-data --root root.json > /dev/null
start_server "$work/server-data" "$work/server"
export FLOTILLA_SERVER=$server_url FLOTILLA_TOKEN_FILE=$work/server-data/admin.token
$flotilla --json enrollment-tokens create --name bench --device-type bench --max-uses 100 --expires 2099-01-01T00:00:00Z \
  | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > enroll.token

config() {  # NAME KEY_JSON
  truncate -s 1M "$work/$1-a.img" "$work/$1-b.img"
  cat > "$1.json" <<JSON
{"server": {"url": "$server_url"}, "enrollment_token_file": "$work/enroll.token",
 "device": {"type": "bench", "identity": {"serial": "$1"}}, $2
 "state_dir": "$work/$1-state", "trust_root": "$work/root.json",
 "initial_versions": {"rootfs": {"version": "1.0.0", "security_version": 1}},
 "slots": {"rootfs": {"kind": "file", "a": "$work/$1-a.img", "b": "$work/$1-b.img"}},
 "bootloader": {"type": "file", "path": "$work/$1-boot.json"},
 "reboot": {"mode": "command", "command": ["/bin/true"]}}
JSON
}
seconds() { sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$1"; }

echo "tpm: first starts (a new key, enrollment, inventory)"
for kind in file tpm; do
  key=""
  [[ $kind == tpm ]] && key="\"device_key\": {\"provider\": \"tpm2\", \"tcti\": \"$tcti\"},"
  config "$kind" "$key"
  first=$($measure --repeat 3 -- sh -c "rm -rf '$work/$kind-state' && exec '$agent' run --once --config $kind.json >> $kind.log 2>&1")
  declare "first_$kind=$(seconds "$first")"
done
echo "tpm: steady polls"
for kind in file tpm; do
  poll=$($measure --repeat 10 -- sh -c "exec '$agent' run --once --config $kind.json >> $kind.log 2>&1")
  declare "poll_$kind=$(seconds "$poll")"
done
grep -q "created the device key" tpm.log || { echo "tpm: the TPM device made no key; see $work/tpm.log" >&2; exit 1; }
stop_server
first_ratio=$(awk -v a="$first_tpm" -v b="$first_file" 'BEGIN { printf "%.3f", a / b }')
poll_ratio=$(awk -v a="$poll_tpm" -v b="$poll_file" 'BEGIN { printf "%.3f", a / b }')
echo "tpm: first start ${first_tpm}s with the TPM, ${first_file}s with a file key; a poll ${poll_tpm}s vs ${poll_file}s"
echo "RESULT name=tpm first_start_ratio=$first_ratio poll_ratio=$poll_ratio first_start_seconds_tpm=$first_tpm first_start_seconds_file=$first_file poll_seconds_tpm=$poll_tpm poll_seconds_file=$poll_file"
