#!/bin/sh
# An example `custom` bootloader script for flotilla-agent (docs/agent.md):
# a board's own boot-count tool, here keeping U-Boot-like counters in a
# plain file. The agent calls it as
#   custom-bootloader.sh ENVFILE booted-slot | boot-id | power-on
#   custom-bootloader.sh ENVFILE try-once|mark-good|mark-bad SLOT
# (SLOT is a or b; queries print their answer; exit 0 on success).
set -eu
env=$1 cmd=$2 slot=${3:-}
case "$slot" in ""|a|b) ;; *) echo "no slot $slot" >&2; exit 2 ;; esac
[ -f "$env" ] || printf 'ORDER="a b"\nLEFT_a=3\nLEFT_b=3\nBOOTED=a\nCOUNT=0\n' > "$env"
. "$env"
save() {
  printf 'ORDER="%s"\nLEFT_a=%s\nLEFT_b=%s\nBOOTED=%s\nCOUNT=%s\n' "$ORDER" "$LEFT_a" "$LEFT_b" "$BOOTED" "$COUNT" > "$env.tmp"
  mv "$env.tmp" "$env"
}
other() { if [ "$1" = a ]; then echo b; else echo a; fi; }
case "$cmd" in
  booted-slot) echo "$BOOTED" ;;
  boot-id) echo "$COUNT" ;;
  try-once) ORDER="$slot $(other "$slot")"; eval "LEFT_$slot=1"; save ;;
  mark-good) ORDER="$slot $(other "$slot")"; eval "LEFT_$slot=3"; save ;;
  mark-bad) ORDER="$(other "$slot") $slot"; eval "LEFT_$slot=0"; save ;;
  power-on)
    booted=""
    for s in $ORDER; do
      eval "left=\$LEFT_$s"
      if [ "$left" -gt 0 ]; then eval "LEFT_$s=$((left - 1))"; booted=$s; break; fi
    done
    if [ -z "$booted" ]; then LEFT_a=3; LEFT_b=3; booted=${ORDER%% *}; fi
    BOOTED=$booted COUNT=$((COUNT + 1))
    save
    echo "$booted" ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
