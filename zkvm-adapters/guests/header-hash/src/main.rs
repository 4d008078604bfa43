//! The header-hash guest: reads a block header's RLP from stdin, commits
//! Keccak-256 of those bytes (32 bytes) and the header's number (8 bytes,
//! big-endian): the statement of slotproof's built-in STARK (specs/provers.md §6).
//! Input that is not exactly one RLP list with a number field panics, and a
//! panicking guest has no proof.

#![no_main]

use std::io::Read;

use risc0_zkvm::guest::env;
use tiny_keccak::{Hasher, Keccak};

risc0_zkvm::guest::entry!(main);

/// Position of `number` in the header list (parentHash, ommersHash, beneficiary,
/// stateRoot, transactionsRoot, receiptsRoot, logsBloom, difficulty, number, …).
const NUMBER_FIELD: usize = 8;

/// An RLP item's header at `at`: (is_list, payload start, payload length).
fn item(buf: &[u8], at: usize) -> (bool, usize, usize) {
    let b = *buf.get(at).expect("RLP item past the end of the input");
    let (list, offset, short_max) = if b < 0xc0 { (false, 0x80, 0xb7) } else { (true, 0xc0, 0xf7) };
    if !list && b < 0x80 {
        return (false, at, 1);
    }
    let b = usize::from(b);
    if b <= short_max {
        return (list, at + 1, b - offset);
    }
    let len_of_len = b - short_max;
    assert!(len_of_len <= 4, "RLP length over 4 bytes");
    let len_bytes = buf.get(at + 1..at + 1 + len_of_len).expect("RLP length past the end of the input");
    assert!(len_bytes[0] != 0, "RLP length with a leading zero");
    let len = len_bytes.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
    (list, at + 1 + len_of_len, len)
}

/// The header's number: the ninth item of the outer list, at most 8 bytes.
fn number(rlp: &[u8]) -> u64 {
    let (list, start, len) = item(rlp, 0);
    assert!(list, "the header is not an RLP list");
    assert_eq!(start + len, rlp.len(), "bytes after the header's RLP list");
    let mut at = start;
    for _ in 0..NUMBER_FIELD {
        let (_, s, l) = item(rlp, at);
        at = s + l;
        assert!(at <= start + len, "the header list ends before its number");
    }
    let (list, s, l) = item(rlp, at);
    assert!(!list && l <= 8 && s + l <= rlp.len(), "the header's number is not an integer of at most 8 bytes");
    rlp[s..s + l].iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

fn main() {
    let mut rlp = Vec::new();
    env::stdin().read_to_end(&mut rlp).expect("reading the header");
    let mut hash = [0u8; 32];
    let mut k = Keccak::v256();
    k.update(&rlp);
    k.finalize(&mut hash);
    let mut journal = [0u8; 40];
    journal[..32].copy_from_slice(&hash);
    journal[32..].copy_from_slice(&number(&rlp).to_be_bytes());
    env::commit_slice(&journal);
}
