# Shared by local.sh, netns.sh and cluster.sh; sourced, not run.

# COUNT, SLOTS, SLOT_TIME and SLOT_MS from `COUNT [--slots S] [--slot-time T]`:
#   parse_count_and_slots NAME DEFAULT_SLOTS LEAST_SLOTS "$@"
parse_count_and_slots() {
  local name=$1 default_slots=$2 least=$3; shift 3
  local usage="usage: $0 $name [--slots S] [--slot-time 3s]"
  [[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -ge 1 ]] || { echo "$usage" >&2; exit 2; }
  COUNT=$1; shift
  SLOTS=$default_slots
  SLOT_TIME=3s
  while [[ $# -gt 0 ]]; do
    case $1 in
      --slots) SLOTS=${2:?}; shift 2 ;;
      --slot-time) SLOT_TIME=${2:?}; shift 2 ;;
      *) echo "$usage" >&2; exit 2 ;;
    esac
  done
  [[ $SLOTS =~ ^[0-9]+$ && $SLOTS -ge $least ]] || { echo "--slots must be a number >= $least" >&2; exit 2; }
  parse_slot_time "$SLOT_TIME"
}

# SLOT_MS from a slot time like 3s or 1500ms.
parse_slot_time() {
  if [[ $1 =~ ^([0-9]+)ms$ ]]; then SLOT_MS=${BASH_REMATCH[1]}
  elif [[ $1 =~ ^([0-9]+)s$ ]]; then SLOT_MS=$(( BASH_REMATCH[1] * 1000 ))
  else echo "--slot-time: use e.g. 3s or 1500ms" >&2; exit 2; fi
}

# BIN: $SLOTPROOF_BIN, else slotproof on PATH, else a release build of this checkout.
find_bin() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ -n ${SLOTPROOF_BIN:-} ]]; then BIN=$SLOTPROOF_BIN
  elif command -v slotproof >/dev/null; then BIN=$(command -v slotproof)
  else
    echo "building slotproof (release) once..." >&2
    (cd "$root" && cargo build --release -j2 --bin slotproof >&2)
    BIN=${CARGO_TARGET_DIR:-$root/target}/release/slotproof
  fi
}

# Node i offers the i-th and the next of these four, so sets differ and overlap.
ZKVMS=(stark sim:sp1-hypercube sim:pico-prism sim:zisk-8x5090)

# Waits for S slots after the chain's start delay, plus two for the last proofs.
wait_slots() {
  local ms=$(( START_DELAY_MS + (SLOTS + 2) * SLOT_MS ))
  sleep "$(( ms / 1000 )).$(( ms % 1000 / 100 ))"
}

# SIGTERM to the nodes (PIDS[1..]; running proofs finish), then the chain
# (PIDS[0]); prints the coverage report of WORK/node0..N-1 as the last line.
stop_and_report() {
  local nodes=("${PIDS[@]:1}") failed=0 i
  for p in "${nodes[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in "${!nodes[@]}"; do
    if ! wait "${nodes[$i]}"; then
      echo "node $i exited with an error; the end of its log:" >&2
      tail -n 20 "$WORK/node$i.log" >&2
      failed=1
    fi
  done
  kill -TERM "${PIDS[0]}" 2>/dev/null || true
  wait "${PIDS[0]}" 2>/dev/null || true
  PIDS=()
  [[ $failed == 0 ]] || exit 1
  local dirs=()
  for i in $(seq 0 $((N - 1))); do dirs+=(--data-dir "$WORK/node$i"); done
  "$BIN" p2p report "${dirs[@]}" --json
}

# BASE: a random base port such that BASE + each offset given is free on 127.0.0.1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_base_port() {
  local off ok
  for _ in $(seq 50); do
    BASE=$(( 20000 + RANDOM % 30000 ))
    ok=1
    for off in "$@"; do port_free $((BASE + off)) || { ok=0; break; }; done
    [[ $ok == 1 ]] && return 0
  done
  echo "no free block of ports found on 127.0.0.1" >&2
  exit 1
}

# WORK: a fresh work dir; PIDS: processes to stop. On exit every process in
# PIDS gets SIGTERM, then SIGKILL, and WORK is removed (kept with KEEP=1).
#   start_work NAME
start_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/slotproof-$1.XXXXXX")
  PIDS=()
  cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  }
  trap cleanup EXIT
}
