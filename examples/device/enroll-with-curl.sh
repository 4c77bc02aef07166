#!/usr/bin/env bash
# Enrolls a device with nothing but openssl and curl, following the signed
# request protocol of docs/device-protocol.md, then polls once. For people writing a
# device client in another language (an MCU, a gateway): every step here
# is one they must do.
#   enroll-with-curl.sh SERVER_URL DEVICE_TYPE SERIAL [ENROLLMENT_TOKEN [ROOTFS_VERSION]]
# Keeps the device key in ./device.key, sends a signed inventory report when
# ROOTFS_VERSION is given, and prints the poll answer.
set -euo pipefail
server=$1 type=$2 serial=$3 token=${4:-} rootfs_version=${5:-}

[[ -f device.key ]] || openssl genpkey -algorithm ed25519 -out device.key
chmod 600 device.key
openssl pkey -in device.key -pubout -out device.pub
# Device id = key id = SHA-256 of the DER SubjectPublicKeyInfo.
key_id=$(openssl pkey -in device.key -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)

# A PEM holds only base64, dashes, spaces and newlines: escaping the
# newlines makes it a JSON string.
pem_json=$(awk '{ printf "%s\\n", $0 }' device.pub)
body=$(printf '{"device_type":"%s","identity":{"serial":"%s"},"public_key":"%s","timestamp":"%s","nonce":"%s"%s}' \
  "$type" "$serial" "$pem_json" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(openssl rand -hex 16)" \
  "${token:+,\"enrollment_token\":\"$token\"}")
printf '%s' "$body" > auth.json
# Ed25519 signs the exact body bytes (no pre-hash): pkeyutl -rawin.
signature=$(openssl pkeyutl -sign -rawin -inkey device.key -in auth.json | base64 -w0)

answer=$(curl -sS --fail-with-body -X POST "$server/api/v1/device/auth" \
  -H "Content-Type: application/json" -H "X-Flotilla-Key-Id: $key_id" -H "X-Flotilla-Signature: $signature" \
  --data-binary @auth.json)
echo "auth: $answer"
device_token=$(printf '%s' "$answer" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
if [[ -z "$device_token" ]]; then
  echo "not accepted yet: an operator must accept device $key_id (flotilla devices accept $key_id)"
  exit 0
fi
if [[ -n "$rootfs_version" ]]; then
  # The inventory is signed like auth: the exact bytes, with a counter that
  # only grows (here: the time) so a replayed report is refused.
  printf '{"counter":%s,"timestamp":"%s","components":{"rootfs":{"version":"%s","security_version":1}},"utc_offset":"+00:00"}' \
    "$(date +%s)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rootfs_version" > inventory.json
  signature=$(openssl pkeyutl -sign -rawin -inkey device.key -in inventory.json | base64 -w0)
  echo "inventory: $(curl -sS --fail-with-body -X PUT "$server/api/v1/device/inventory" -H "Authorization: Bearer $device_token" \
    -H "Content-Type: application/json" -H "X-Flotilla-Key-Id: $key_id" -H "X-Flotilla-Signature: $signature" \
    --data-binary @inventory.json)"
fi
echo "poll: $(curl -sS --fail-with-body -X POST "$server/api/v1/device/poll" -H "Authorization: Bearer $device_token" -d '{}')"
