//! The block header as JSON-RPC returns it, re-encoded to the RLP the block
//! hash is taken over, and the Keccak-256 sponge computed off-circuit.
//!
//! Fork-aware: post-London fields are appended in protocol order when the RPC
//! returns them (London base fee, Shanghai withdrawals root, Cancun blob gas
//! and beacon root, Prague requests hash). A later field without an earlier one
//! is refused rather than guessed.

use serde_json::{Map, Value};

use crate::input::BlockError;

/// Keccak-256 rate in bytes (1088 bits = 17 lanes).
pub const RATE_BYTES: usize = 136;
pub const RATE_LANES: usize = RATE_BYTES / 8;

#[derive(Clone, Copy)]
enum Kind {
    /// Fixed-length byte string of this many bytes.
    Bytes(usize),
    /// Arbitrary-length byte string.
    Data,
    /// Big-endian integer without leading zeros.
    Quantity,
}

const BASE_FIELDS: [(&str, Kind); 15] = [
    ("parentHash", Kind::Bytes(32)),
    ("sha3Uncles", Kind::Bytes(32)),
    ("miner", Kind::Bytes(20)),
    ("stateRoot", Kind::Bytes(32)),
    ("transactionsRoot", Kind::Bytes(32)),
    ("receiptsRoot", Kind::Bytes(32)),
    ("logsBloom", Kind::Bytes(256)),
    ("difficulty", Kind::Quantity),
    ("number", Kind::Quantity),
    ("gasLimit", Kind::Quantity),
    ("gasUsed", Kind::Quantity),
    ("timestamp", Kind::Quantity),
    ("extraData", Kind::Data),
    ("mixHash", Kind::Bytes(32)),
    ("nonce", Kind::Bytes(8)),
];

/// Appended by later forks, in this order.
const FORK_FIELDS: [(&str, Kind); 6] = [
    ("baseFeePerGas", Kind::Quantity),
    ("withdrawalsRoot", Kind::Bytes(32)),
    ("blobGasUsed", Kind::Quantity),
    ("excessBlobGas", Kind::Quantity),
    ("parentBeaconBlockRoot", Kind::Bytes(32)),
    ("requestsHash", Kind::Bytes(32)),
];

/// A header reduced to what the STARK statement needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub number: u64,
    pub hash: [u8; 32],
    pub rlp: Vec<u8>,
}

impl Header {
    /// Reads a block (`eth_getBlockByNumber` result) and checks that the
    /// Keccak-256 of its re-encoded header is the hash the RPC gave.
    pub fn from_block_json(obj: &Map<String, Value>) -> Result<Header, BlockError> {
        let mut items = Vec::with_capacity(BASE_FIELDS.len() + FORK_FIELDS.len());
        for (name, kind) in BASE_FIELDS {
            items.push(field(obj, name, kind)?.ok_or_else(|| missing(name))?);
        }
        let mut absent: Option<&'static str> = None;
        for (name, kind) in FORK_FIELDS {
            match (field(obj, name, kind)?, absent) {
                (Some(item), None) => items.push(item),
                (Some(_), Some(earlier)) => {
                    return Err(BlockError::Field {
                        field: name,
                        problem: format!("present while the earlier fork field {earlier} is absent"),
                    });
                }
                (None, _) => absent = absent.or(Some(name)),
            }
        }
        let rlp = rlp_list(&items);
        let number = u64_of(&field(obj, "number", Kind::Quantity)?.unwrap_or_default())
            .ok_or_else(|| BlockError::Field { field: "number", problem: "over 64 bits".into() })?;
        let claimed = field(obj, "hash", Kind::Bytes(32))?.ok_or_else(|| missing("hash"))?;
        let hash = keccak256(&rlp);
        if claimed.as_slice() != hash {
            return Err(BlockError::Field {
                field: "hash",
                problem: format!(
                    "0x{} is not the Keccak-256 of the header fields (0x{}): the block is not what the RPC says",
                    hex(&claimed),
                    hex(&hash)
                ),
            });
        }
        Ok(Header { number, hash, rlp })
    }
}

fn missing(field: &'static str) -> BlockError {
    BlockError::Field { field, problem: "missing".into() }
}

fn field(obj: &Map<String, Value>, name: &'static str, kind: Kind) -> Result<Option<Vec<u8>>, BlockError> {
    let Some(value) = obj.get(name) else { return Ok(None) };
    let bad = |problem: String| BlockError::Field { field: name, problem };
    let s = value.as_str().ok_or_else(|| bad("not a string".into()))?;
    let digits = s.strip_prefix("0x").ok_or_else(|| bad(format!("{s:?} is not 0x-prefixed hex")))?;
    let bytes = match kind {
        Kind::Quantity => {
            let trimmed = digits.trim_start_matches('0');
            let padded = if !trimmed.len().is_multiple_of(2) { format!("0{trimmed}") } else { trimmed.to_owned() };
            unhex(&padded).ok_or_else(|| bad(format!("{s:?} is not a hex quantity")))?
        }
        Kind::Data => unhex(digits).ok_or_else(|| bad(format!("{s:?} is not hex bytes")))?,
        Kind::Bytes(n) => {
            let b = unhex(digits).ok_or_else(|| bad(format!("{s:?} is not hex bytes")))?;
            if b.len() != n {
                return Err(bad(format!("{} bytes, expected {n}", b.len())));
            }
            b
        }
    };
    Ok(Some(bytes))
}

fn u64_of(be: &[u8]) -> Option<u64> {
    (be.len() <= 8).then(|| be.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rlp_length_prefix(out: &mut Vec<u8>, len: usize, short: u8) {
    if len < 56 {
        out.push(short + len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(short + 55 + (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if let [b] = bytes
        && *b < 0x80
    {
        out.push(*b);
        return;
    }
    rlp_length_prefix(out, bytes.len(), 0x80);
    out.extend_from_slice(bytes);
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        rlp_string(&mut body, item);
    }
    let mut out = Vec::with_capacity(body.len() + 9);
    rlp_length_prefix(&mut out, body.len(), 0xc0);
    out.extend_from_slice(&body);
    out
}

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

/// The permutation inputs of the sponge over `message`: state_0 = block_0,
/// state_i = f(state_{i-1}) xor block_i. Also returns the final state.
pub fn sponge_inputs(message: &[u8]) -> (Vec<[u64; 25]>, [u64; 25]) {
    let mut state = [0u64; 25];
    let mut inputs = Vec::new();
    for block in padded_blocks(message) {
        for (lane, word) in block.iter().enumerate() {
            state[lane] ^= word;
        }
        inputs.push(state);
        keccak::f1600(&mut state);
    }
    (inputs, state)
}

pub fn keccak256(message: &[u8]) -> [u8; 32] {
    let (_, state) = sponge_inputs(message);
    let mut out = [0u8; 32];
    for (chunk, lane) in out.chunks_exact_mut(8).zip(state) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_matches_known_vectors() {
        assert_eq!(hex(&keccak256(b"")), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        // Exactly one rate block of input: the padding takes a block of its own.
        let msg = [0x61u8; RATE_BYTES];
        assert_eq!(sponge_inputs(&msg).0.len(), 2);
        assert_eq!(hex(&keccak256(b"abc")), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    }

    #[test]
    fn every_shipped_block_rehashes_to_its_hash() {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../testdata/blocks");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let header = Header::from_block_json(v.as_object().unwrap()).unwrap();
            assert_eq!(format!("0x{}", hex(&header.hash)), v["hash"].as_str().unwrap());
            seen += 1;
        }
        assert_eq!(seen, 13, "pre-London, London, Shanghai and Cancun headers all re-encode");
    }

    #[test]
    fn a_changed_field_or_a_skipped_fork_field_is_refused() {
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../testdata/blocks");
        let v: Value = serde_json::from_slice(&std::fs::read(dir.join("21230866.json")).unwrap()).unwrap();
        let mut obj = v.as_object().unwrap().clone();
        obj.insert("gasUsed".into(), "0x1".into());
        let e = Header::from_block_json(&obj).unwrap_err();
        assert!(e.to_string().contains("not the Keccak-256"), "{e}");
        let mut obj = v.as_object().unwrap().clone();
        obj.remove("withdrawalsRoot");
        let e = Header::from_block_json(&obj).unwrap_err();
        assert!(e.to_string().contains("withdrawalsRoot"), "{e}");
    }
}
