//! The journal-echo guest: commits whatever it reads. A receipt of it is a
//! valid RISC Zero proof of a worthless statement; slotproof's verifier must
//! refuse it because its image is not the configured guest's.

#![no_main]

use std::io::Read;

use risc0_zkvm::guest::env;

risc0_zkvm::guest::entry!(main);

fn main() {
    let mut input = Vec::new();
    env::stdin().read_to_end(&mut input).expect("reading the input");
    env::commit_slice(&input);
}
