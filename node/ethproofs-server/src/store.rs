//! The server's state in RocksDB: clusters, proof rows, proof bytes, block
//! facts and counters, as JSON records under readable keys. It knows nothing
//! of HTTP; callers turn its errors into 500s.

use std::path::Path;

use rocksdb::{DB, Direction, IteratorMode, Options, ReadOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ServerError, StoreError};

/// A team's cluster. Its id in the API is `index`, the team's own small number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub index: u64,
    pub uuid: String,
    pub name: String,
    pub zkvm_version_id: u64,
    pub num_gpus: u64,
    pub hardware_description: Option<String>,
    pub deployment_type: String,
    pub is_active: bool,
    pub vk_path: Option<String>,
    /// Bumped when zkvm_version_id or vk_path change: proofs attach to the latest.
    pub version: u64,
    pub created_at: String,
}

/// Where a proof is in its lifecycle; stored and served as the lowercase name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofStatus {
    Queued,
    Proving,
    Proved,
}

impl ProofStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProofStatus::Queued => "queued",
            ProofStatus::Proving => "proving",
            ProofStatus::Proved => "proved",
        }
    }
}

/// One proof of one (block, cluster version).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProofRow {
    pub proof_id: u64,
    pub block_number: u64,
    pub cluster_index: u64,
    pub cluster_uuid: String,
    pub cluster_version: u64,
    pub team_id: String,
    pub proof_status: ProofStatus,
    pub created_at: String,
    pub queued_timestamp: Option<String>,
    pub proving_timestamp: Option<String>,
    pub proved_timestamp: Option<String>,
    pub proving_time: Option<u64>,
    pub proving_cycles: Option<u64>,
    pub size_bytes: Option<u64>,
    pub verifier_id: Option<String>,
}

pub fn cluster_key(team: &str, index: u64) -> String {
    format!("cluster/{team}/{index:020}")
}

pub fn cluster_prefix(team: &str) -> String {
    format!("cluster/{team}/")
}

pub fn proof_key(block: u64, team: &str, index: u64, version: u64) -> String {
    format!("proof/{block:020}/{team}/{index:020}/{version:020}")
}

/// Every proof row of a block, or of all blocks.
pub fn proof_prefix(block: Option<u64>) -> String {
    block.map_or_else(|| "proof/".to_string(), |n| format!("proof/{n:020}/"))
}

pub fn block_key(number: u64) -> String {
    format!("block/{number:020}")
}

pub const BLOCK_PREFIX: &str = "block/";

fn bin_key(proof_id: u64) -> String {
    format!("bin/{proof_id:020}")
}

/// A UUID-shaped id derived from `parts`: the same team or cluster always
/// gets the same one, across restarts, without storing it.
pub fn uuid_of(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new_derive_key("slotproof ethproofs-server uuid v1");
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let x = slotproof_primitives::hex::encode(&h.finalize().as_bytes()[..16]);
    format!("{}-{}-4{}-8{}-{}", &x[0..8], &x[8..12], &x[13..16], &x[17..20], &x[20..32])
}

/// The first key after every key that starts with `prefix`, if there is one
/// (none when the prefix is all 0xff bytes).
fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

pub struct Store {
    db: DB,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, ServerError> {
        let path = dir.join("ethproofs");
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, &path).map_err(|source| ServerError::Open { path: path.clone(), source })?;
        Ok(Store { db })
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.db.get(key.as_bytes()).map_err(|source| StoreError::Db { key: key.into(), source })? {
            Some(v) => {
                serde_json::from_slice(&v).map(Some).map_err(|source| StoreError::Decode { key: key.into(), source })
            }
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let v = serde_json::to_vec(value).map_err(|source| StoreError::Encode { key: key.into(), source })?;
        self.db.put(key.as_bytes(), v).map_err(|source| StoreError::Db { key: key.into(), source })
    }

    /// Every record under `prefix`, in key order.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mode = IteratorMode::From(prefix.as_bytes(), Direction::Forward);
        for item in self.db.iterator(mode) {
            let (k, v) = item.map_err(|source| StoreError::Db { key: prefix.into(), source })?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            let key = String::from_utf8_lossy(&k);
            out.push(serde_json::from_slice(&v).map_err(|source| StoreError::Decode { key: key.into(), source })?);
        }
        Ok(out)
    }

    /// The last `limit` records under `prefix`, last key first: what is read
    /// is `limit` records, however many the prefix holds.
    pub fn scan_newest<T: DeserializeOwned>(&self, prefix: &str, limit: usize) -> Result<Vec<T>, StoreError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(prefix.as_bytes());
        if let Some(end) = after_prefix(prefix.as_bytes()) {
            opts.set_iterate_upper_bound(end);
        }
        let mut out = Vec::new();
        for item in self.db.iterator_opt(IteratorMode::End, opts).take(limit) {
            let (k, v) = item.map_err(|source| StoreError::Db { key: prefix.into(), source })?;
            let key = String::from_utf8_lossy(&k);
            out.push(serde_json::from_slice(&v).map_err(|source| StoreError::Decode { key: key.into(), source })?);
        }
        Ok(out)
    }

    /// The next number of `counter`, from 1. Callers hold the write lock.
    pub fn next_id(&self, counter: &str) -> Result<u64, StoreError> {
        let n: u64 = self.get(counter)?.unwrap_or(0) + 1;
        self.put(counter, &n)?;
        Ok(n)
    }

    pub fn put_proof_bytes(&self, proof_id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let key = bin_key(proof_id);
        self.db.put(key.as_bytes(), bytes).map_err(|source| StoreError::Db { key, source })
    }

    pub fn proof_bytes(&self, proof_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let key = bin_key(proof_id);
        self.db.get(key.as_bytes()).map_err(|source| StoreError::Db { key, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_stable() {
        let id = uuid_of(&["team", "key-a"]);
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{id}");
        assert_eq!((&id[14..15], &id[19..20]), ("4", "8"), "version 4, RFC variant: {id}");
        assert_eq!(id, uuid_of(&["team", "key-a"]));
        assert_ne!(id, uuid_of(&["team", "key-b"]));
        assert_ne!(uuid_of(&["ab", "c"]), uuid_of(&["a", "bc"]), "parts are separated");
    }

    #[test]
    fn the_newest_records_of_a_prefix_come_last_key_first_and_no_more_than_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for n in [1u64, 2, 3, 10, 11] {
            store.put(&format!("proof/{n:020}/t"), &n).unwrap();
        }
        // Neighbours on both sides of the prefix are never read.
        store.put("proo", &0u64).unwrap();
        store.put("proof0", &99u64).unwrap();
        store.put("proof.", &98u64).unwrap();
        assert_eq!(store.scan_newest::<u64>("proof/", 3).unwrap(), [11, 10, 3]);
        assert_eq!(store.scan_newest::<u64>("proof/", 100).unwrap(), [11, 10, 3, 2, 1]);
        assert_eq!(store.scan_newest::<u64>(&proof_prefix(Some(2)), 100).unwrap(), [2]);
        assert!(store.scan_newest::<u64>("proof/", 0).unwrap().is_empty());
    }

    #[test]
    fn the_key_after_a_prefix_carries_past_0xff() {
        assert_eq!(after_prefix(b"proof/"), Some(b"proof0".to_vec()));
        assert_eq!(after_prefix(&[b'a', 0xff, 0xff]), Some(vec![b'b']));
        assert_eq!(after_prefix(&[0xff]), None);
    }

    #[test]
    fn statuses_are_stored_as_their_lowercase_names() {
        for s in [ProofStatus::Queued, ProofStatus::Proving, ProofStatus::Proved] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
