//! Keccak-256 (the Ethereum hash, domain byte 0x01, not SHA3-256) as a sponge
//! over the `keccak` crate's permutation. The padded blocks are public so the
//! STARK prover builds its AIR over exactly the bytes hashed here.

use crate::hash::Hash32;

/// Keccak-256 rate in bytes (1088 bits = 17 lanes).
pub const RATE_BYTES: usize = 136;
pub const RATE_LANES: usize = RATE_BYTES / 8;

/// `message` with Keccak's pad10*1 (domain byte 0x01), as 17-lane blocks.
pub fn padded_blocks(message: &[u8]) -> Vec<[u64; RATE_LANES]> {
    let mut bytes = message.to_vec();
    bytes.push(0x01);
    while !bytes.len().is_multiple_of(RATE_BYTES) {
        bytes.push(0);
    }
    if let Some(last) = bytes.last_mut() {
        *last |= 0x80;
    }
    bytes
        .chunks_exact(RATE_BYTES)
        .map(|block| {
            std::array::from_fn(|lane| {
                let mut le = [0u8; 8];
                le.copy_from_slice(&block[lane * 8..lane * 8 + 8]);
                u64::from_le_bytes(le)
            })
        })
        .collect()
}

/// Keccak-256 of `message`: absorb every padded block, squeeze four lanes.
pub fn keccak256(message: &[u8]) -> Hash32 {
    let mut state = [0u64; 25];
    for block in padded_blocks(message) {
        for (lane, word) in block.iter().enumerate() {
            state[lane] ^= word;
        }
        keccak::f1600(&mut state);
    }
    let mut out = [0u8; 32];
    for (chunk, lane) in out.chunks_exact_mut(8).zip(state) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    Hash32(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_matches_known_vectors() {
        assert_eq!(keccak256(b"").to_string(), "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        assert_eq!(keccak256(b"abc").to_string(), "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    }

    #[test]
    fn a_full_rate_block_of_input_gets_a_padding_block_of_its_own() {
        assert_eq!(padded_blocks(&[0x61; RATE_BYTES - 1]).len(), 1);
        assert_eq!(padded_blocks(&[0x61; RATE_BYTES]).len(), 2);
        // pad10*1 in one byte when only one byte is left: 0x01 | 0x80.
        assert_eq!(padded_blocks(&[0x61; RATE_BYTES - 1])[0][RATE_LANES - 1] >> 56, 0x81);
    }
}
