#!/usr/bin/env bash
# Builds slotproof-risc0 (specs/provers.md §8) into
# ${CARGO_TARGET_DIR:-target}/release/slotproof-risc0 and prints that path as
# its last line. A cold build is ~8 minutes on 2 cores (RISC Zero's C++ kernels);
# a warm one is seconds.
#
#   zkvm-adapters/risc0/build.sh              # CPU prover
#   zkvm-adapters/risc0/build.sh --cuda       # with RISC Zero's CUDA kernels (needs nvcc)
#
# Its own workspace and its own cargo target directory (<target>/risc0), so the
# node's build never compiles RISC Zero and never sees DOCS_RS: that variable,
# set here for this build only, makes risc0-circuit-recursion skip downloading
# its recursion programs (this machine's network cannot reach that host). Without
# them only composite receipts can be made, which is what slotproof uses.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case "$target" in /*) ;; *) target=$repo/$target ;; esac
features=()
[ "${1:-}" = "--cuda" ] && features=(--features cuda)

start=$(date +%s)
echo "building slotproof-risc0 (RISC Zero 3.0.5, composite receipts)${features:+ with CUDA}" >&2
(cd "$here" && DOCS_RS=1 CARGO_TARGET_DIR="$target/risc0" \
    cargo build --release --locked -j"${SLOTPROOF_BUILD_JOBS:-2}" "${features[@]}" >&2)
mkdir -p "$target/release"
# Copied next to the node's release binary, where `slotproof` looks first.
install -m 0755 "$target/risc0/release/slotproof-risc0" "$target/release/slotproof-risc0.tmp"
mv "$target/release/slotproof-risc0.tmp" "$target/release/slotproof-risc0"
echo "slotproof-risc0 built in $(( $(date +%s) - start )) s" >&2
echo "$target/release/slotproof-risc0"
