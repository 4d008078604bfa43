#!/usr/bin/env bash
# A proving network on one machine (specs/p2p.md §7): one dev chain and N
# nodes on 127.0.0.1, each with its own ports, data dir and zkVM set. Runs S
# slots, stops everything, and prints one JSON object as the last line of
# stdout: {"nodes", "blocks": [{"block_number", "block_hash", "zkvms",
# "provers", "seen_by_all", "deadline_met"}], "coverage"}. Logs go to stderr
# and to the work dir (kept with KEEP=1).
#
#   testnet/local.sh N [--slots S] [--slot-time 3s]
#
# Binary: $SLOTPROOF_BIN, else `slotproof` on PATH, else built once (release).
set -euo pipefail

source "$(dirname "$0")/common.sh"
parse_count_and_slots N 6 1 "$@"
N=$COUNT

find_bin

start_work testnet

# A base port with room for the chain, N p2p and N HTTP listeners.
pick_base_port 0 $(seq 1 "$N") $(seq 101 $((100 + N)))
CHAIN=127.0.0.1:$BASE

# Node ids first: node 0 is everyone's bootnode.
for i in $(seq 0 $((N - 1))); do
  ID[i]=$("$BIN" p2p id --data-dir "$WORK/node$i")
done
BOOT=/ip4/127.0.0.1/tcp/$((BASE + 1))/p2p/${ID[0]}

# The chain starts after the nodes have had time to start and meet.
START_DELAY_MS=$(( 3000 + 300 * N ))
"$BIN" devchain --listen "$CHAIN" --slot-time "$SLOT_TIME" --blocks "$SLOTS" \
  --start-delay "${START_DELAY_MS}ms" 2>"$WORK/devchain.log" &
PIDS+=($!)
for i in $(seq 0 $((N - 1))); do
  z1=${ZKVMS[$(( i % 4 ))]}; z2=${ZKVMS[$(( (i + 1) % 4 ))]}
  args=(node --rpc-url "ws://$CHAIN" --slot-time "$SLOT_TIME" --data-dir "$WORK/node$i"
        --http "127.0.0.1:$((BASE + 101 + i))" --p2p-listen "/ip4/127.0.0.1/tcp/$((BASE + 1 + i))"
        --zkvm "$z1" --zkvm "$z2")
  [[ $i -gt 0 ]] && args+=(--bootnode "$BOOT")
  "$BIN" "${args[@]}" 2>"$WORK/node$i.log" &
  PIDS+=($!)
  echo "node $i ${ID[i]} zkVMs $z1 $z2" >&2
done

# S slots, then two more for the last proofs to spread.
wait_slots
stop_and_report
