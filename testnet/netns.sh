#!/usr/bin/env bash
# Like local.sh, but every node runs in its own network namespace, joined to
# the others and to the dev chain by a bridge, with `tc netem` delay and loss
# on each node's link: a small WAN on one machine (specs/p2p.md §7).
#
#   sudo testnet/netns.sh N [--slots S] [--slot-time 3s] [--delay 20ms] [--loss 1%]
#
# Needs root, iproute2 (`ip`, `tc`) and the sch_netem kernel module; says which
# is missing and exits 3 when the machine lacks them. Prints, as the last line
# of stdout, the same JSON object as local.sh.
set -euo pipefail

usage() { echo "usage: $0 N [--slots S] [--slot-time 3s] [--delay 20ms] [--loss 1%]" >&2; exit 2; }
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -ge 1 && $1 -le 200 ]] || usage
N=$1; shift
SLOTS=6; SLOT_TIME=3s; DELAY=20ms; LOSS=1%
while [[ $# -gt 0 ]]; do
  case $1 in
    --slots) SLOTS=${2:?}; shift 2 ;;
    --slot-time) SLOT_TIME=${2:?}; shift 2 ;;
    --delay) DELAY=${2:?}; shift 2 ;;
    --loss) LOSS=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
source "$(dirname "$0")/common.sh"
parse_slot_time "$SLOT_TIME"

missing() { echo "netns.sh: this machine lacks $1; use testnet/local.sh instead" >&2; exit 3; }
[[ $(id -u) == 0 ]] || missing "root (network namespaces and tc need it)"
command -v ip >/dev/null || missing "iproute2's ip"
command -v tc >/dev/null || missing "iproute2's tc"
# Probe netem on a throwaway namespace: the module may be absent or not loadable.
PROBE=sp-probe-$$
ip netns add "$PROBE" 2>/dev/null || missing "network namespaces (ip netns add failed)"
if ! ip -n "$PROBE" link set lo up || ! ip netns exec "$PROBE" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
  ip netns del "$PROBE" 2>/dev/null || true
  missing "tc netem (the sch_netem kernel module)"
fi
ip netns del "$PROBE"

find_bin

TAG=sp$$
BR=br-$TAG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/slotproof-netns.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for i in $(seq 0 $((N - 1))); do ip netns del "$TAG-$i" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The bridge holds 10.77.0.1 (the dev chain); node i is 10.77.0.(10+i).
ip link add "$BR" type bridge
ip addr add 10.77.0.1/24 dev "$BR"
ip link set "$BR" up
for i in $(seq 0 $((N - 1))); do
  ns=$TAG-$i
  ip netns add "$ns"
  ip link add "v$TAG$i" type veth peer name eth0 netns "$ns"
  ip link set "v$TAG$i" master "$BR" up
  ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip netns exec "$ns" tc qdisc add dev eth0 root netem delay "$DELAY" loss "$LOSS"
done

for i in $(seq 0 $((N - 1))); do ID[i]=$("$BIN" p2p id --data-dir "$WORK/node$i"); done
BOOT=/ip4/10.77.0.10/tcp/9000/p2p/${ID[0]}
START_DELAY_MS=$(( 3000 + 300 * N ))
"$BIN" devchain --listen 10.77.0.1:8545 --slot-time "$SLOT_TIME" --blocks "$SLOTS" \
  --start-delay "${START_DELAY_MS}ms" 2>"$WORK/devchain.log" &
PIDS+=($!)
for i in $(seq 0 $((N - 1))); do
  z1=${ZKVMS[$(( i % 4 ))]}; z2=${ZKVMS[$(( (i + 1) % 4 ))]}
  args=(node --rpc-url ws://10.77.0.1:8545 --slot-time "$SLOT_TIME" --data-dir "$WORK/node$i" --http off
        --p2p-listen /ip4/0.0.0.0/tcp/9000 --zkvm "$z1" --zkvm "$z2")
  [[ $i -gt 0 ]] && args+=(--bootnode "$BOOT")
  ip netns exec "$TAG-$i" "$BIN" "${args[@]}" 2>"$WORK/node$i.log" &
  PIDS+=($!)
  echo "node $i ${ID[i]} at 10.77.0.$((10 + i)) zkVMs $z1 $z2 (netem delay $DELAY loss $LOSS)" >&2
done

wait_slots
stop_and_report
