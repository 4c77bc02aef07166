#!/usr/bin/env bash
# install: the agent installing a raw-image bundle of INSTALL_MIB (default
# 1024) MiB into a file slot,
#   (1) locally (`flotilla-agent install`) against `openssl dgst -sha256` of
#       the image in the same run (ratio), and
#   (2) streamed from the real server over loopback (`flotilla-agent run
#       --once` taking a deployment) against `curl -o /dev/null` of the same
#       bundle from the same server in the same run (net_ratio),
# (2b) the same two limited to a link's speed (LINK_MIB_S, link_ratio),
# with the agent's peak RSS during (2) (and its sampled peak PSS and
# anonymous part), its idle RSS (and PSS, and the
# anonymous part) in `run` between polls (resting in flotilla-agent-wait;
# and, for comparison, resting in process), what one poll with nothing
# offered costs as a process (seconds, peak RSS),
# the size of the stripped binary, (readback_ratio) what
# slots.verify_after_write costs: the local install with read-back against
# the same install without, and (resume_overhead) what going on from a
# resume point after a power cut costs per GiB already in the slot.
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
size_mib=${INSTALL_MIB:-1024}
work="$BENCH_OUT/install"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
flotilla=$FLOTILLA_BIN/flotilla
agent=$FLOTILLA_BIN/flotilla-agent
measure=$FLOTILLA_BIN/bench_measure
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source "$OLDPWD/bench/lib/server.bash"
# The agent runs with its packaged unit's environment.
export GNUTLS_NO_IMPLICIT_INIT=1

echo "install: making a ${size_mib} MiB image and its signed bundle"
{ openssl enc -aes-128-ctr -pass pass:flotilla-bench -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
  | head -c $((size_mib * 1024 * 1024)) > image.img
$flotilla keygen --out root >/dev/null
$flotilla keygen --out release >/dev/null
$flotilla root init --root-key root.pub --release-key release.pub --sign root.key -o root.json >/dev/null
$flotilla bundle create --key release.key --name bench-os --kind os --component rootfs --version 2.0.0 \
  --security-version 2 --compatible bench --raw-image rootfs=image.img -o bench.flb >/dev/null

config() {  # NAME [SERVER_URL] [VERIFY_AFTER_WRITE]
  local server=""
  [[ -n ${2:-} ]] && server="\"server\": {\"url\": \"$2\"}, \"enrollment_token_file\": \"$work/enroll.token\","
  # File slots exist at the image's size before the agent runs, as
  # partitions do (sparse until written).
  truncate -s "${size_mib}M" "$work/$1-a.img" "$work/$1-b.img"
  cat > "$1.json" <<JSON
{$server "device": {"type": "bench", "identity": {"serial": "$1"}},
 "state_dir": "$work/$1-state", "trust_root": "$work/root.json",
 "initial_versions": {"rootfs": {"version": "1.0.0", "security_version": 1}},
 "slots": {"verify_after_write": ${3:-false}, "rootfs": {"kind": "file", "a": "$work/$1-a.img", "b": "$work/$1-b.img"}},
 "bootloader": {"type": "file", "path": "$work/$1-boot.json"},
 "reboot": {"mode": "command", "command": ["/bin/true"]}}
JSON
}

echo "install: (1) local install against openssl dgst"
config local
cat image.img bench.flb > /dev/null  # both from the page cache
baseline=$($measure --repeat 3 -- openssl dgst -sha256 image.img)
local_run=$($measure --repeat 3 -- sh -c "rm -rf '$work/local-state' '$work/local-boot.json' && exec '$agent' install bench.flb --config local.json")
cmp -s image.img local-b.img || { echo "install: the slot does not hold the image" >&2; exit 1; }
base_s=$(sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$baseline")
local_s=$(sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$local_run")
local_rss=${local_run##*rss_mib=}
rm -f local-b.img local-a.img

echo "install: (1b) the same local install with slots.verify_after_write"
config verify "" true
verify_run=$($measure --repeat 3 -- sh -c "rm -rf '$work/verify-state' '$work/verify-boot.json' && exec '$agent' install bench.flb --config verify.json")
cmp -s image.img verify-b.img || { echo "install: the read-back slot does not hold the image" >&2; exit 1; }
verify_s=$(sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$verify_run")
rm -f verify-a.img verify-b.img

echo "install: (2) streamed from the server against curl"
"$FLOTILLA_BIN/flotilla-server" init --data server-data --root root.json > /dev/null
start_server "$work/server-data" "$work/server"
export FLOTILLA_SERVER=$server_url FLOTILLA_TOKEN_FILE=$work/server-data/admin.token
digest=$($flotilla --json bundles upload bench.flb | sed -n 's/.*"file_sha256": *"\([0-9a-f]*\)".*/\1/p' | head -1)
$flotilla --json enrollment-tokens create --name bench --device-type bench --max-uses 1 --expires 2099-01-01T00:00:00Z \
  | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > enroll.token
config net "$server_url"
$agent run --once --config net.json > net.log 2>&1
device=$($flotilla --json devices list | grep -o '"id": *"[0-9a-f]\{64\}"' | head -1 | cut -d'"' -f4)
$flotilla deployments create --bundle "$digest" --device "$device" > /dev/null
curl_run=$($measure --repeat 3 -- curl -sS -o /dev/null -H "Authorization: Bearer $(cat server-data/admin.token)" \
  "$server_url/api/v1/bundles/$digest/file")
net_run=$($measure --sample -- sh -c "exec '$agent' run --once --config net.json")
cmp -s image.img net-b.img || { echo "install: the streamed slot does not hold the image" >&2; exit 1; }
key() { sed -E "s/.*(^| )$1=([0-9.]+).*/\2/" <<< "$2"; }  # key NAME "k=v ..."
curl_s=$(key seconds "$curl_run")
curl_rss=$(key rss_mib "$curl_run")  # what downloading alone maps: libcurl and its libraries
net_s=$(key seconds "$net_run")
peak_rss=$(key rss_mib "$net_run")
peak_pss=$(key pss_mib "$net_run")
peak_anon=$(key anon_mib "$net_run")

# On loopback the download is faster than one SHA-256 pass over the
# image, so net_ratio cannot go below hash_floor_ratio (openssl dgst /
# curl). A device's link is slower than its hash: (2b) compares the two
# at a link's speed, LINK_MIB_S (default 100 MiB/s, about gigabit
# Ethernet), both limited by libcurl's receive-rate limit.
echo "install: (2b) the same at ${LINK_MIB_S:-100} MiB/s"
link_rate=$((${LINK_MIB_S:-100} * 1024 * 1024))
$flotilla --json enrollment-tokens create --name bench-link --device-type bench --max-uses 1 --expires 2099-01-01T00:00:00Z \
  | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > enroll.token
config link "$server_url"
sed -i "s/^{/{\"bandwidth_limit\": $link_rate, /" link.json
$agent run --once --config link.json > link.log 2>&1
link_device=$($flotilla --json devices list | grep -o '"id": *"[0-9a-f]\{64\}"' | cut -d'"' -f4 | grep -v "$device" | head -1)
$flotilla deployments create --bundle "$digest" --device "$link_device" > /dev/null
curl_link_run=$($measure -- curl -sS -o /dev/null --limit-rate "$link_rate" -H "Authorization: Bearer $(cat server-data/admin.token)" \
  "$server_url/api/v1/bundles/$digest/file")
link_run=$($measure -- sh -c "exec '$agent' run --once --config link.json")
cmp -s image.img link-b.img || { echo "install: the slot installed at link speed does not hold the image" >&2; exit 1; }
curl_link_s=$(key seconds "$curl_link_run")
link_s=$(key seconds "$link_run")
rm -f link-a.img link-b.img

echo "install: (3) a download cut at about half and resumed from the slot"
# A second device takes the same bundle at a known rate; it is SIGKILLed
# once its resume point is past half the image, and the next start goes
# on from there. resume_overhead = the resumed run's seconds beyond
# downloading the rest at that rate, per GiB read back from the slot.
$flotilla --json enrollment-tokens create --name bench-resume --device-type bench --max-uses 1 --expires 2099-01-01T00:00:00Z \
  | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' > enroll.token
config resume "$server_url"
rate=$((size_mib * 1024 * 1024 / 4))  # the whole image in 4 s
sed -i "s/^{/{\"bandwidth_limit\": $rate, /" resume.json
$agent run --once --config resume.json > resume.log 2>&1
resume_device=$($flotilla --json devices list | grep -o '"id": *"[0-9a-f]\{64\}"' | cut -d'"' -f4 | grep -v -e "$device" -e "$link_device" | head -1)
$flotilla deployments create --bundle "$digest" --device "$resume_device" > /dev/null
"$agent" run --once --config resume.json >> resume.log 2>&1 &
cut_pid=$!
written=0
for _ in $(seq 1 200); do
  written=$("$agent" status --json --config resume.json 2>/dev/null | sed -n 's/.*"written": *\([0-9]*\).*/\1/p')
  [[ -n $written && $written -ge $((size_mib * 1024 * 1024 / 2)) ]] && break
  sleep 0.05
done
kill -9 "$cut_pid"; wait "$cut_pid" 2>/dev/null || true
written=$("$agent" status --json --config resume.json | sed -n 's/.*"written": *\([0-9]*\).*/\1/p')
[[ -n $written && $written -gt 0 ]] || { echo "install: no resume point was kept" >&2; exit 1; }
resume_run=$($measure -- sh -c "exec '$agent' run --once --config resume.json >> resume.log 2>&1")
grep -q ", resumed: " resume.log || { echo "install: the download did not resume" >&2; exit 1; }
cmp -s image.img resume-b.img || { echo "install: the resumed slot does not hold the image" >&2; exit 1; }
resume_s=$(sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$resume_run")
resume_overhead=$(awk -v t="$resume_s" -v w="$written" -v total=$((size_mib * 1024 * 1024)) -v r="$rate" \
  'BEGIN { o = (t - (total - w) / r) / (w / 1073741824); if (o < 0) o = 0; printf "%.3f", o }')
rm -f resume-a.img resume-b.img

echo "install: idle RSS of run between polls"
# The streamed install waits for its trial boot: boot it and commit, so
# the idle agent is one with nothing to do but poll.
"$agent" boot --config net.json > /dev/null
"$agent" run --once --config net.json >> net.log 2>&1
# One poll with nothing offered, as a process: what each cycle costs
# now that the agent starts again for every poll.
poll_run=$($measure --repeat 5 -- sh -c "exec '$agent' run --once --config net.json >> net.log 2>&1")
poll_s=$(sed -E 's/seconds=([0-9.]+).*/\1/' <<< "$poll_run")
poll_rss=$(sed -E 's/.*rss_mib=([0-9.]+).*/\1/' <<< "$poll_run")
# KIB_RSS KIB_PSS KIB_ANON of PID
memory_of() {
  echo "$(awk '/VmRSS/ { print $2 }' "/proc/$1/status") $(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")" \
       "$(awk '/^Anonymous:/ { print $2 }' "/proc/$1/smaps_rollup")"
}
# RSS counts shared-library pages a device shares with other processes:
# PSS divides them among their users, and the anonymous part is the
# agent's own memory.
"$agent" run --config net.json > idle.log 2>&1 &
agent_pid=$!
# Between polls the agent rests in flotilla-agent-wait (same pid).
for _ in $(seq 1 200); do
  [[ $(readlink "/proc/$agent_pid/exe") == */flotilla-agent-wait ]] && break
  sleep 0.05
done
[[ $(readlink "/proc/$agent_pid/exe") == */flotilla-agent-wait ]] || { echo "install: the agent never rested in flotilla-agent-wait" >&2; cat idle.log >&2; exit 1; }
read -r idle_kib idle_pss_kib idle_anon_kib < <(memory_of "$agent_pid")
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
# The same daemon sleeping in its own process, as it did before.
"$agent" run --rest-in-process --config net.json > idle-in-process.log 2>&1 &
agent_pid=$!
sleep 4
read -r inproc_kib _ _ < <(memory_of "$agent_pid")
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
stop_server
idle_rss=$(awk -v k="$idle_kib" 'BEGIN { printf "%.1f", k / 1024 }')
idle_pss=$(awk -v k="$idle_pss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
idle_anon=$(awk -v k="$idle_anon_kib" 'BEGIN { printf "%.1f", k / 1024 }')
inproc_rss=$(awk -v k="$inproc_kib" 'BEGIN { printf "%.1f", k / 1024 }')
cp "$agent" agent.stripped && strip agent.stripped
binary_mib=$(awk -v b="$(stat -c %s agent.stripped)" 'BEGIN { printf "%.2f", b / 1048576 }')

ratio=$(awk -v a="$local_s" -v b="$base_s" 'BEGIN { printf "%.3f", a / b }')
net_ratio=$(awk -v a="$net_s" -v b="$curl_s" 'BEGIN { printf "%.3f", a / b }')
hash_floor_ratio=$(awk -v a="$base_s" -v b="$curl_s" 'BEGIN { printf "%.3f", a / b }')
link_ratio=$(awk -v a="$link_s" -v b="$curl_link_s" 'BEGIN { printf "%.3f", a / b }')
readback_ratio=$(awk -v a="$verify_s" -v b="$local_s" 'BEGIN { printf "%.3f", a / b }')
rm -f image.img bench.flb net-b.img local-a.img net-a.img server-data/bundles/*
echo "install: openssl ${base_s}s, local install ${local_s}s (RSS ${local_rss} MiB), with read-back ${verify_s}s; curl ${curl_s}s, streamed install ${net_s}s (peak RSS ${peak_rss} MiB, PSS ${peak_pss}, anonymous ${peak_anon}; curl's ${curl_rss}; hash floor ${hash_floor_ratio}x curl); at ${LINK_MIB_S:-100} MiB/s curl ${curl_link_s}s, install ${link_s}s; idle ${idle_rss} MiB (PSS ${idle_pss}, anonymous ${idle_anon}; ${inproc_rss} MiB resting in process); a poll ${poll_s}s, peak RSS ${poll_rss} MiB; binary ${binary_mib} MiB"
echo "install: resumed after a cut at $written bytes in ${resume_s}s: ${resume_overhead}s per GiB read back"
echo "RESULT name=install ratio=$ratio net_ratio=$net_ratio peak_rss_mib=$peak_rss idle_rss_mib=$idle_rss idle_pss_mib=$idle_pss idle_anon_mib=$idle_anon binary_mib=$binary_mib seconds=$local_s baseline_seconds=$base_s net_seconds=$net_s curl_seconds=$curl_s local_rss_mib=$local_rss size_mib=$size_mib readback_ratio=$readback_ratio readback_seconds=$verify_s resume_overhead=$resume_overhead resume_seconds=$resume_s resumed_bytes=$written idle_in_process_rss_mib=$inproc_rss poll_seconds=$poll_s poll_peak_rss_mib=$poll_rss peak_pss_mib=$peak_pss peak_anon_mib=$peak_anon curl_rss_mib=$curl_rss hash_floor_ratio=$hash_floor_ratio link_ratio=$link_ratio link_mib_s=${LINK_MIB_S:-100} link_seconds=$link_s curl_link_seconds=$curl_link_s"
