//! The block header as JSON-RPC returns it, re-encoded to the RLP the block
//! hash is taken over, and checked against that hash with Keccak-256
//! (specs/provers.md §6, specs/chain.md). The chain follower uses it to refuse
//! a block that is not what the RPC says; the STARK prover proves the same
//! bytes. Pure: it reads a JSON object, never the network.
//!
//! Fork-aware: post-London fields are appended in protocol order when the RPC
//! returns them (London base fee, Shanghai withdrawals root, Cancun blob gas
//! and beacon root, Prague requests hash). A later field without an earlier one
//! is refused rather than guessed.

use serde_json::{Map, Value};

use crate::error::HeaderError;
use crate::hash::Hash32;
use crate::keccak::keccak256;

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

/// A header reduced to what hashing and proving it need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub number: u64,
    /// Keccak-256 of `rlp`, equal to the hash the RPC gave.
    pub hash: Hash32,
    pub rlp: Vec<u8>,
}

impl Header {
    /// Reads a block (`eth_getBlockByNumber` result) and checks that the
    /// Keccak-256 of its re-encoded header is the hash the RPC gave.
    pub fn from_block_json(obj: &Map<String, Value>) -> Result<Header, HeaderError> {
        let mut items = Vec::with_capacity(BASE_FIELDS.len() + FORK_FIELDS.len());
        for (name, kind) in BASE_FIELDS {
            items.push(field(obj, name, kind)?.ok_or(HeaderError::Missing { field: name })?);
        }
        let mut absent: Option<&'static str> = None;
        for (name, kind) in FORK_FIELDS {
            match (field(obj, name, kind)?, absent) {
                (Some(item), None) => items.push(item),
                (Some(_), Some(earlier)) => return Err(HeaderError::ForkOrder { field: name, earlier }),
                (None, _) => absent = absent.or(Some(name)),
            }
        }
        let rlp = rlp_list(&items);
        let number =
            u64_of(&field(obj, "number", Kind::Quantity)?.unwrap_or_default()).ok_or(HeaderError::NumberOver64Bits)?;
        let claimed = field(obj, "hash", Kind::Bytes(32))?.ok_or(HeaderError::Missing { field: "hash" })?;
        let claimed = Hash32::from_slice(&claimed).map_err(|_| HeaderError::Length {
            field: "hash",
            got: claimed.len(),
            expected: 32,
        })?;
        let hash = keccak256(&rlp);
        if claimed != hash {
            return Err(HeaderError::HashMismatch { claimed: claimed.to_string(), computed: hash.to_string() });
        }
        Ok(Header { number, hash, rlp })
    }
}

/// The field's bytes as RLP takes them; `None` when the block lacks it.
fn field(obj: &Map<String, Value>, name: &'static str, kind: Kind) -> Result<Option<Vec<u8>>, HeaderError> {
    let Some(value) = obj.get(name) else { return Ok(None) };
    let s = value.as_str().ok_or(HeaderError::NotString { field: name })?;
    let digits = s.strip_prefix("0x").ok_or_else(|| HeaderError::NotPrefixed { field: name, value: s.into() })?;
    let not_hex = |expected: &'static str| {
        move |source| HeaderError::NotHex { field: name, value: s.to_owned(), expected, source }
    };
    let bytes = match kind {
        Kind::Quantity => {
            // A quantity is minimal hex ("0x0", "0x1a"); RLP wants minimal big-endian bytes.
            let trimmed = digits.trim_start_matches('0');
            let padded = if trimmed.len().is_multiple_of(2) { trimmed.to_owned() } else { format!("0{trimmed}") };
            crate::hex::decode(&padded).map_err(not_hex("a hex quantity"))?
        }
        Kind::Data => crate::hex::decode(digits).map_err(not_hex("hex bytes"))?,
        Kind::Bytes(n) => {
            let b = crate::hex::decode(digits).map_err(not_hex("hex bytes"))?;
            if b.len() != n {
                return Err(HeaderError::Length { field: name, got: b.len(), expected: n });
            }
            b
        }
    };
    Ok(Some(bytes))
}

fn u64_of(be: &[u8]) -> Option<u64> {
    (be.len() <= 8).then(|| be.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_dir() -> std::path::PathBuf {
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../testdata/blocks")
    }

    fn shipped(number: u64) -> Map<String, Value> {
        let bytes = std::fs::read(blocks_dir().join(format!("{number}.json"))).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap().as_object().unwrap().clone()
    }

    #[test]
    fn every_shipped_block_rehashes_to_its_hash() {
        let mut seen = 0;
        for entry in std::fs::read_dir(blocks_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let header = Header::from_block_json(v.as_object().unwrap()).unwrap();
            assert_eq!(header.hash.to_string(), v["hash"].as_str().unwrap());
            assert_eq!(format!("{:#x}", header.number), v["number"].as_str().unwrap());
            seen += 1;
        }
        assert_eq!(seen, 13, "pre-London, London, Shanghai and Cancun headers all re-encode");
    }

    #[test]
    fn a_changed_field_or_a_skipped_fork_field_is_refused() {
        let mut obj = shipped(21_230_866);
        obj.insert("gasUsed".into(), "0x1".into());
        let e = Header::from_block_json(&obj).unwrap_err();
        assert!(matches!(e, HeaderError::HashMismatch { .. }), "{e}");
        assert!(e.to_string().contains("not the Keccak-256"), "{e}");
        let mut obj = shipped(21_230_866);
        obj.remove("withdrawalsRoot");
        let e = Header::from_block_json(&obj).unwrap_err();
        assert_eq!(e, HeaderError::ForkOrder { field: "blobGasUsed", earlier: "withdrawalsRoot" });
        assert!(e.to_string().contains("withdrawalsRoot"), "{e}");
    }

    #[test]
    fn malformed_fields_are_named() {
        let cases: [(&str, Value, &str); 5] = [
            ("miner", Value::from(7), "block field miner: not a string"),
            ("stateRoot", "12".into(), "is not 0x-prefixed hex"),
            ("gasUsed", "0x+1".into(), "is not a hex quantity"),
            ("mixHash", "0x1234".into(), "block field mixHash: 2 bytes, expected 32"),
            ("extraData", "0xabc".into(), "is not hex bytes: odd number of hex digits"),
        ];
        for (name, value, expected) in cases {
            let mut obj = shipped(17_000_000);
            obj.insert(name.into(), value);
            let e = Header::from_block_json(&obj).unwrap_err().to_string();
            assert!(e.contains(expected), "{name}: {e}");
        }
        let mut obj = shipped(17_000_000);
        obj.remove("nonce");
        assert_eq!(Header::from_block_json(&obj), Err(HeaderError::Missing { field: "nonce" }));
    }

    #[test]
    fn rlp_lengths_cross_the_long_form_boundary() {
        let mut out = Vec::new();
        rlp_string(&mut out, &[0x7f]);
        rlp_string(&mut out, &[0x80]);
        rlp_string(&mut out, &[0; 55]);
        assert_eq!(&out[..4], &[0x7f, 0x81, 0x80, 0xb7]);
        let mut long = Vec::new();
        rlp_string(&mut long, &[0; 56]);
        assert_eq!(&long[..2], &[0xb8, 56]);
        assert_eq!(&rlp_list(&[vec![0; 300]])[..3], &[0xf9, 0x01, 0x2f]);
    }
}
