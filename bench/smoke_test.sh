#!/usr/bin/env bash
# smoke_test.sh - the bench programs' ctest (label "bench"): quick proof that
# they still build, run and count right, so the benchmark cannot rot between
# full runs. Not a benchmark: nothing here is timed.
#
# 1. A 10k-packet synthetic file through raw_pcap_loop (both readers) and
#    ipm_bench (both modes), for each benchmark filter: packet counts must
#    equal tcpdump's and each other's, byte counts must agree.
# 2. Live, inside a private network namespace (unshare -n, gone when this
#    script exits): blaster sends a known number of datagrams over its
#    loopback and each live capturer must see exactly that many.
#
# usage: smoke_test.sh GEN_PCAP RAW_PCAP_LOOP IPM_BENCH BLASTER
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 GEN_PCAP RAW_PCAP_LOOP IPM_BENCH BLASTER" >&2
    exit 2
fi
GEN=$1 RAW=$2 IPM=$3 BLASTER=$4
tmp=$(mktemp -d /tmp/ipm-bench-smoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Field $2 of the JSON line $1 (the programs print flat JSON objects).
field() {
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

file=$tmp/mix.pcap
"$GEN" 10000 "$file"

for filter in "" "tcp port 80" "ip6 or udp" "greater 1000"; do
    want=$(tcpdump -nn -r "$file" $filter 2>/dev/null | wc -l)
    [ "$want" -gt 0 ] || fail "tcpdump found no packets for '$filter'"
    fopt=()
    [ -n "$filter" ] && fopt=(-f "$filter")
    ref=""
    for prog in "$RAW -r" "$RAW --bigbuf" "$IPM --mode capture -r" "$IPM --mode stat -r"; do
        # shellcheck disable=SC2086
        out=$($prog "$file" ${fopt[@]+"${fopt[@]}"} 2>&1 | tail -1) || true
        got=$(field "$out" packets 2>/dev/null) || { fail "$prog '$filter': $out"; continue; }
        bytes=$(field "$out" bytes)
        [ "$got" = "$want" ] || fail "$prog '$filter': $got packets, tcpdump $want"
        [ -z "$ref" ] && ref=$bytes
        [ "$bytes" = "$ref" ] || fail "$prog '$filter': $bytes bytes, raw loop $ref"
        echo "ok: $prog filter='$filter' packets=$got bytes=$bytes"
    done
done

# Live part: runs in a fresh network namespace so no one else's capture on
# the host's loopback sees this traffic. Each capturer stops by itself after
# the expected count (-c); `timeout` turns a lost packet into a failure.
live() {
    set -euo pipefail
    ip link set lo up
    local n=3000 failed=0
    local k=0
    for cap in "$RAW -B 8192 -t 50" "$IPM --mode capture -B 8192 -t 50" "$IPM --mode stat -t 50"; do
        # Fresh files per capturer: a stale "ready" must not start the traffic.
        k=$((k + 1))
        local out=$tmp/cap$k.out err=$tmp/cap$k.err
        # shellcheck disable=SC2086
        timeout 20 $cap -f "udp port 9" -c $n -i lo >"$out" 2>"$err" &
        local pid=$!
        # Wait for the capturer to say it is listening (or to die).
        while ! grep -q '^ready' "$err" 2>/dev/null; do
            kill -0 $pid 2>/dev/null || break
            sleep 0.01
        done
        local sent
        sent=$(field "$("$BLASTER" -d 127.0.0.1 -p 9 -s 100 -n $n)" sent)
        if ! wait $pid; then
            echo "FAIL: live $cap: capturer failed or timed out: $(cat "$err" "$out")" >&2
            failed=1
            continue
        fi
        local got
        got=$(field "$(tail -1 "$out")" packets)
        if [ "$sent" != "$n" ] || [ "$got" != "$n" ]; then
            echo "FAIL: live $cap: sent $sent, captured $got, expected $n" >&2
            failed=1
        else
            echo "ok: live $cap captured $got of $sent"
        fi
    done
    return $failed
}
export -f live field
export RAW IPM BLASTER tmp
unshare -n bash -c live || fail "live capture"

if [ $failures -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "bench smoke test passed"
