#!/usr/bin/env bash
# bundle_verify: verifying a bundle with one 512 MiB payload, against
# `openssl dgst -sha256` of the same payload measured in the same run (the
# floor: verification must at least hash every byte once). Both read from
# the page cache, warmed first. ratio = ours / openssl.
set -euo pipefail
: "${FLOTILLA_BIN:?run through bench/run}" "${BENCH_OUT:?}"
size_mib=${BUNDLE_VERIFY_MIB:-512}
work="$BENCH_OUT/bundle_verify"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
flotilla=$FLOTILLA_BIN/flotilla
measure=$FLOTILLA_BIN/bench_measure

echo "bundle_verify: making a ${size_mib} MiB payload and a signed bundle"
# Incompressible bytes, fast: AES-CTR keystream.
# (openssl ends by SIGPIPE when head has enough; that is expected.)
{ openssl enc -aes-128-ctr -pass pass:flotilla-bench -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
  | head -c $((size_mib * 1024 * 1024)) > payload.img
$flotilla keygen --out root >/dev/null
$flotilla keygen --out release >/dev/null
$flotilla root init --root-key root.pub --release-key release.pub --sign root.key -o root.json >/dev/null
$flotilla bundle create --key release.key --name bench --kind os --component rootfs \
  --version 1.0.0 --security-version 1 --compatible bench --raw-image rootfs=payload.img \
  -o bench.flb >/dev/null
cat payload.img bench.flb > /dev/null

baseline=$($measure --repeat 3 -- openssl dgst -sha256 payload.img)
ours=$($measure --repeat 3 -- "$flotilla" bundle verify --root root.json bench.flb)
base_s=${baseline#seconds=}; base_s=${base_s%% *}
our_s=${ours#seconds=}; our_s=${our_s%% *}
rss=${ours##*rss_mib=}
ratio=$(awk -v a="$our_s" -v b="$base_s" 'BEGIN { printf "%.3f", a / b }')
echo "bundle_verify: openssl dgst ${base_s}s, flotilla bundle verify ${our_s}s, peak RSS ${rss} MiB"
rm -f payload.img bench.flb
echo "RESULT name=bundle_verify ratio=$ratio seconds=$our_s baseline_seconds=$base_s rss_mib=$rss size_mib=$size_mib"
