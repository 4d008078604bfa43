#!/bin/sh
# Adapts a zkVM host program to slotproof's external-prover file contract
# (specs/provers.md §3). slotproof runs:
#     wrap-host.sh INPUT OUTPUT GPU
# and this script runs your host as
#     $ZKVM_HOST_CMD INPUT PROOF_FILE PUBLIC_VALUES_FILE
# then writes OUTPUT = {"proof": base64, "public_values": base64, "proving_time_ms": N}.
# Set ZKVM_HOST_CMD to the command that proves INPUT with your zkVM (SP1, RISC Zero,
# ZisK, OpenVM host ...) and writes the two files. Exit 65 from the host means
# "this input can never be proven" and is passed through.
set -eu
input=$1 output=$2 gpu=${3:-}
: "${ZKVM_HOST_CMD:?set ZKVM_HOST_CMD to your zkVM host command}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$gpu" ] && export CUDA_VISIBLE_DEVICES="$gpu"
start=$(date +%s%3N)
status=0
# shellcheck disable=SC2086 # ZKVM_HOST_CMD may carry its own arguments
$ZKVM_HOST_CMD "$input" "$work/proof" "$work/public_values" || status=$?
[ "$status" -eq 0 ] || exit "$status"
end=$(date +%s%3N)
[ -s "$work/proof" ] || { echo "wrap-host: the host wrote no proof" >&2; exit 1; }
[ -f "$work/public_values" ] || : > "$work/public_values"
printf '{"proof":"%s","public_values":"%s","proving_time_ms":%s}' \
  "$(base64 -w0 < "$work/proof")" "$(base64 -w0 < "$work/public_values")" "$((end - start))" > "$output.tmp"
mv "$output.tmp" "$output"
