# Shared by the benchmarks that load a running flotilla-server with wrk.
# Expects FLOTILLA_BIN and BENCH_OUT (set by bench/run).

# Parses wrk --latency output into "rps p50_ms p99_ms errors".
summarise() {
  awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx/ { errors += $NF }
    /Socket errors/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(",", "", v); errors += v } }
    function ms(x) { if (x ~ /us$/) { sub("us", "", x); return x / 1000 } if (x ~ /ms$/) { sub("ms", "", x); return x }
                     if (x ~ /s$/) { sub("s", "", x); return x * 1000 } return x }
    END { printf "%s %.3f %.3f %d\n", rps, ms(p50), ms(p99), errors + 0 }' "$1"
}

# refuse_errors WHAT RPS SECONDS ERRORS: a load whose answers were more
# than 1 % errors measured a failure, not the server: stop with a message.
refuse_errors() {
  if awk -v e="$4" -v r="$2" -v s="$3" 'BEGIN { exit !(e * 100 > r * s) }'; then
    echo "$1: $4 of about $(awk -v r="$2" -v s="$3" 'BEGIN { printf "%d", r * s }') answers were errors; the benchmark measured nothing (see its server log)" >&2
    exit 1
  fi
}

# poll_load URL SECONDS DEVICES OUTFILE [CONNECTIONS]: device polls from
# seeded devices, over CONNECTIONS (default 32) keep-alive connections.
poll_load() {
  DEVICES=$3 wrk -t 1 -c "${5:-32}" -d "${2}s" --latency -s bench/poll.lua "$1" > "$4"
}

# start_server DATA LOGPREFIX [ARGS...]: starts flotilla-server on a free
# loopback port; sets server_pid and server_url.
start_server() {
  local data=$1 prefix=$2
  shift 2
  "$FLOTILLA_BIN/flotilla-server" serve --data "$data" --listen http://127.0.0.1:0 "$@" \
    > "$prefix.url" 2> "$prefix.log" &
  server_pid=$!
  for _ in $(seq 100); do [[ -s "$prefix.url" ]] && break; sleep 0.1; done
  server_url=$(head -1 "$prefix.url")
  [[ -n "$server_url" ]] || { echo "the server did not start; see $prefix.log" >&2; return 1; }
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
