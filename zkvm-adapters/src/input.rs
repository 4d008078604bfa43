//! Building a proving input from a block as JSON-RPC returns it
//! (`eth_getBlockByNumber(n, true)`), validated at the edge (specs/provers.md §5).

use serde_json::Value;
use slotproof_primitives::Hash32;

use crate::prover::ProvingInput;

/// What the guest reads, and so what the node writes to its input file. Every
/// encoding's guest commits the same public values as `stark`: the block hash
/// (32 bytes) then the block number (8 bytes, big-endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub enum InputEncoding {
    /// The header's RLP (the bytes the block hash is taken over).
    #[default]
    #[serde(rename = "header-rlp")]
    HeaderRlp,
    /// The block as `eth_getBlockByNumber(n, true)` returns it, keys sorted
    /// (the node's proving input as is), for guests that read the whole block.
    #[serde(rename = "block-json")]
    BlockJson,
}

/// What the node needs to know about the block an input was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    pub number: u64,
    /// 0x-prefixed lowercase hex.
    pub hash: String,
    pub gas_used: u64,
    pub transactions: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    #[error("block JSON does not parse: {0}")]
    Json(String),
    #[error("block JSON is not an object (expected an eth_getBlockByNumber(n, true) result)")]
    NotObject,
    #[error("block field {field}: {problem}")]
    Field { field: &'static str, problem: String },
}

fn quantity(obj: &serde_json::Map<String, Value>, field: &'static str) -> Result<u64, BlockError> {
    let bad = |problem: String| BlockError::Field { field, problem };
    let s = obj.get(field).and_then(Value::as_str).ok_or_else(|| bad("missing or not a string".into()))?;
    let hex = s.strip_prefix("0x").ok_or_else(|| bad(format!("{s:?} is not 0x-prefixed hex")))?;
    u64::from_str_radix(hex, 16).map_err(|_| bad(format!("{s:?} is not a hex quantity")))
}

/// Parses and checks a block; the input bytes are the block re-serialized with
/// sorted keys, so the same block always gives the same digest.
pub fn block_input(json: &[u8]) -> Result<(ProvingInput, BlockMeta), BlockError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| BlockError::Json(e.to_string()))?;
    let obj = value.as_object().ok_or(BlockError::NotObject)?;
    let number = quantity(obj, "number")?;
    let gas_used = quantity(obj, "gasUsed")?;
    let hash: Hash32 =
        obj.get("hash").and_then(Value::as_str).and_then(|h| h.strip_prefix("0x")?.parse().ok()).ok_or_else(|| {
            BlockError::Field { field: "hash", problem: "missing or not 32 bytes of 0x-prefixed hex".into() }
        })?;
    let transactions = match obj.get("transactions") {
        Some(Value::Array(txs)) if txs.iter().all(Value::is_object) => txs.len(),
        Some(Value::Array(_)) => {
            return Err(BlockError::Field {
                field: "transactions",
                problem: "holds hashes only: fetch the block with full transactions".into(),
            });
        }
        _ => return Err(BlockError::Field { field: "transactions", problem: "missing or not an array".into() }),
    };
    let canonical = serde_json::to_vec(&value).map_err(|e| BlockError::Json(e.to_string()))?;
    let input = ProvingInput::new(number, canonical).with_gas(gas_used).with_block_hash(hash.0);
    Ok((input, BlockMeta { number, hash: hash.to_string(), gas_used, transactions }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_block_parses_and_digests_stably() {
        // Read at run time: a test binary may be shared by several clones of the repo.
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let bytes = std::fs::read(dir.join("../testdata/blocks/21230866.json")).unwrap();
        let (input, meta) = block_input(&bytes).unwrap();
        assert_eq!(meta.number, 21_230_866);
        assert_eq!(meta.hash, "0x6987698bd5b5c557891ecd8215df64fdaea8ea1d928646ff56249d608d42f27f");
        assert_eq!(meta.gas_used, 0x126a262);
        assert_eq!(meta.transactions, 264);
        assert_eq!(input.gas_used, Some(0x126a262));
        // Whitespace and key order do not change the digest.
        let reformatted = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&bytes).unwrap()).unwrap();
        assert_eq!(block_input(&reformatted).unwrap().0.digest, input.digest);
    }

    #[test]
    fn bad_blocks_are_refused_with_the_field() {
        assert!(matches!(block_input(b"not json"), Err(BlockError::Json(_))));
        assert_eq!(block_input(b"[1]").unwrap_err(), BlockError::NotObject);
        let e = block_input(br#"{"number":"12","gasUsed":"0x1","hash":"0x00","transactions":[]}"#).unwrap_err();
        assert!(matches!(e, BlockError::Field { field: "number", .. }), "{e}");
        let hash = format!("0x{}", "ab".repeat(32));
        let only_hashes = format!(r#"{{"number":"0x1","gasUsed":"0x1","hash":"{hash}","transactions":["0x01"]}}"#);
        assert!(matches!(block_input(only_hashes.as_bytes()), Err(BlockError::Field { field: "transactions", .. })));
        let short_hash = r#"{"number":"0x1","gasUsed":"0x1","hash":"0x1234","transactions":[]}"#;
        assert!(matches!(block_input(short_hash.as_bytes()), Err(BlockError::Field { field: "hash", .. })));
    }
}
