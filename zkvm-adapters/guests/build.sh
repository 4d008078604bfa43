#!/usr/bin/env bash
# Builds the RISC Zero guest programs reproducibly and writes, beside each
# guest's Cargo.toml, the ELF (<guest>.elf) and its sha256 (<guest>.elf.sha256).
# The node's build and CI use the committed ELF and never run this; it needs
# only rustup's own rust-src component (no rzup). specs/provers.md §8.
#
#   zkvm-adapters/guests/build.sh            # build every guest
#   zkvm-adapters/guests/build.sh --check    # build and fail if an ELF changed
#
# With slotproof-risc0 built ($SLOTPROOF_RISC0_BIN, else
# $CARGO_TARGET_DIR/release/slotproof-risc0, from zkvm-adapters/risc0/build.sh)
# it also writes <guest>.image-id, RISC Zero's id of the ELF joined with the
# v1compat kernel that program carries (and --check compares it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The toolchain the committed ELFs were built with: another rustc gives other bytes.
toolchain=1.95.0
target=riscv32im-risc0-zkvm-elf
check=false
[ "${1:-}" = "--check" ] && check=true

if ! rustup +"$toolchain" component list --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "build.sh: the guest build needs rust-src for $toolchain: rustup +$toolchain component add rust-src" >&2
    exit 1
fi
sysroot=$(rustc +"$toolchain" --print sysroot)
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
# The node's target directory: the guests build in its guests/, and
# slotproof-risc0 is found in its release/.
outer=${CARGO_TARGET_DIR:-$(cd "$here/../.." && pwd)/target}
export CARGO_TARGET_DIR=${SLOTPROOF_GUEST_TARGET_DIR:-$outer/guests}
# std for a target without prebuilt std needs the unstable -Z build-std.
export RUSTC_BOOTSTRAP=1
# RISC Zero's guest flags (its risc0-build crate uses the same): atomics lowered
# for a single-threaded machine, code at the address its loader expects, and
# paths remapped so the ELF does not depend on where the repo or cargo live.
flags=(
    -C passes=lower-atomic
    -C link-arg=-Ttext=0x00200800
    -C link-arg=--fatal-warnings
    -C panic=abort
    --cfg 'getrandom_backend="custom"'
    --remap-path-prefix "$here=/guests"
    --remap-path-prefix "$registry=/cargo"
    --remap-path-prefix "$sysroot=/rustc"
)
export CARGO_ENCODED_RUSTFLAGS=$(printf '%s\x1f' "${flags[@]}" | sed 's/\x1f$//')

risc0=${SLOTPROOF_RISC0_BIN:-$outer/release/slotproof-risc0}
[ -x "$risc0" ] || { echo "build.sh: no slotproof-risc0 at $risc0: image ids not written or checked" >&2; risc0=; }

changed=0
for dir in "$here"/*/; do
    guest=$(basename "$dir")
    [ -f "$dir/Cargo.toml" ] || continue
    [ "$guest" = target ] && continue
    echo "building guest $guest with rustc $(rustc +"$toolchain" --version | cut -d' ' -f2)" >&2
    (cd "$dir" && cargo +"$toolchain" build --release --locked --target "$target" \
        -Z build-std=alloc,core,proc_macro,panic_abort,std -Z build-std-features=compiler-builtins-mem)
    built="$CARGO_TARGET_DIR/$target/release/$guest"
    new=$(sha256sum "$built" | cut -d' ' -f1)
    old=$(cut -d' ' -f1 "$dir/$guest.elf.sha256" 2>/dev/null || true)
    if [ "$new" != "$old" ]; then
        changed=1
        if $check; then
            echo "build.sh: $guest.elf would change: committed ${old:-none}, built $new" >&2
            continue
        fi
        cp "$built" "$dir/$guest.elf"
        echo "$new  $guest.elf" > "$dir/$guest.elf.sha256"
    fi
    echo "$guest.elf sha256 $new" >&2
    if [ -n "$risc0" ]; then
        id=$("$risc0" image-id --elf "$built")
        if [ "$id" != "$(cat "$dir/$guest.image-id" 2>/dev/null)" ]; then
            changed=1
            if $check; then
                echo "build.sh: $guest.image-id would change to $id" >&2
            else
                echo "$id" > "$dir/$guest.image-id"
            fi
        fi
        echo "$guest image id $id" >&2
    fi
done
if $check && [ "$changed" = 1 ]; then exit 1; fi
