//! What the node proved: one record per (block number, hash), updated as
//! proofs arrive, and the proving inputs, content-addressed. RocksDB under
//! `<data dir>/results`; a record is rewritten whole, so a restart never holds
//! half an update and never a second record for a block.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{DB, IteratorMode, Options};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("results database {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("results record {key}: {message}")]
    Corrupt { key: String, message: String },
}

pub type Result<T> = std::result::Result<T, ResultsError>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProofRecord {
    /// `proved`, `failed`, `missed` (nothing by the deadline), `pending`.
    pub status: String,
    pub proving_ms: Option<u64>,
    pub proof_bytes: Option<u64>,
    pub verified: bool,
    pub simulated: bool,
    /// From the block's arrival to the proof being recorded.
    pub latency_ms: Option<u64>,
    pub within_deadline: bool,
    pub error: Option<String>,
}

/// A proof another node made, fetched and checked here (specs/p2p.md §6).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceivedProof {
    pub zkvm: String,
    /// The prover's node id (its peer id).
    pub node: String,
    pub proving_ms: u64,
    pub proof_bytes: u64,
    pub simulated: bool,
    /// Checked with this node's verifier for the zkVM (false: none here).
    pub verified: bool,
    /// Received before the slot deadline.
    pub within_deadline: bool,
    pub received_ms: u64,
    /// `hash_tree_root` of its envelope.
    #[serde(skip)]
    pub root: Option<[u8; 32]>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub block_number: u64,
    pub block_hash: String,
    pub parent_hash: String,
    pub slot: u64,
    pub arrival_ms: u64,
    pub deadline_ms: u64,
    pub input_digest: String,
    /// The zkVMs asked to prove it.
    pub zkvms: Vec<String>,
    pub proofs: BTreeMap<String, ProofRecord>,
    pub closed: bool,
    pub deadline_met: bool,
    /// Left the canonical chain in a reorg.
    pub orphaned: bool,
    /// Proofs from the network, one per (zkVM, node).
    #[serde(default)]
    pub received: Vec<ReceivedProof>,
    /// Distinct zkVMs wanted when the block was coordinated on a network (0: no network).
    #[serde(default)]
    pub wanted: usize,
}

impl BlockRecord {
    pub fn all_proved(&self) -> bool {
        self.zkvms.iter().all(|z| self.proofs.get(z).is_some_and(|p| p.status == "proved"))
    }

    /// Distinct zkVMs with a verified proof, own or received; `in_time`: only those before the deadline.
    pub fn verified_zkvms(&self, in_time: bool) -> std::collections::BTreeSet<String> {
        let own = self.proofs.iter().filter(|(_, p)| p.verified && (!in_time || p.within_deadline)).map(|(z, _)| z);
        let net = self.received.iter().filter(|p| p.verified && (!in_time || p.within_deadline)).map(|p| &p.zkvm);
        own.chain(net).cloned().collect()
    }

    /// Adds a received proof unless (zkVM, node) is already there.
    pub fn receive(&mut self, p: ReceivedProof) -> bool {
        if self.received.iter().any(|r| r.zkvm == p.zkvm && r.node == p.node) {
            return false;
        }
        self.received.push(p);
        true
    }
}

pub struct ResultStore {
    db: DB,
    path: PathBuf,
    inputs: PathBuf,
}

fn key(number: u64, hash: &str) -> Vec<u8> {
    let mut k = b"b/".to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k.extend_from_slice(hash.as_bytes());
    k
}

impl ResultStore {
    pub fn open(data_dir: &Path) -> Result<ResultStore> {
        let path = data_dir.join("results");
        let inputs = data_dir.join("inputs");
        let db_err = |message: String| ResultsError::Db { path: path.clone(), message };
        std::fs::create_dir_all(&inputs).map_err(|e| db_err(format!("creating {}: {e}", inputs.display())))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, &path).map_err(|e| {
            let hint = if e.to_string().contains("lock") { " (is another node running on this data dir?)" } else { "" };
            db_err(format!("{e}{hint}"))
        })?;
        Ok(ResultStore { db, path, inputs })
    }

    fn err(&self, e: rocksdb::Error) -> ResultsError {
        ResultsError::Db { path: self.path.clone(), message: e.to_string() }
    }

    pub fn put(&self, r: &BlockRecord) -> Result<()> {
        let value = serde_json::to_vec(r)
            .map_err(|e| ResultsError::Corrupt { key: r.block_hash.clone(), message: e.to_string() })?;
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(false);
        self.db.put_opt(key(r.block_number, &r.block_hash), value, &opts).map_err(|e| self.err(e))
    }

    pub fn get(&self, number: u64, hash: &str) -> Result<Option<BlockRecord>> {
        match self.db.get(key(number, hash)).map_err(|e| self.err(e))? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| ResultsError::Corrupt { key: format!("{number}/{hash}"), message: e.to_string() }),
            None => Ok(None),
        }
    }

    /// Every record, by block number (then hash).
    pub fn all(&self) -> Result<Vec<BlockRecord>> {
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(b"b/") {
                continue;
            }
            let r: BlockRecord = serde_json::from_slice(&v).map_err(|e| ResultsError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                message: e.to_string(),
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// The records at one height (one, or more after a reorg).
    pub fn at_height(&self, number: u64) -> Result<Vec<BlockRecord>> {
        let mut prefix = b"b/".to_vec();
        prefix.extend_from_slice(&number.to_be_bytes());
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&prefix, rocksdb::Direction::Forward)) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| ResultsError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                message: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// The newest `n` records, newest first.
    pub fn recent(&self, n: usize) -> Result<Vec<BlockRecord>> {
        let mut out = Vec::with_capacity(n);
        for item in self.db.iterator(IteratorMode::End) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(b"b/") {
                continue;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| ResultsError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                message: e.to_string(),
            })?);
            if out.len() == n {
                break;
            }
        }
        Ok(out)
    }

    /// Stores a signed proof (encoded), own or received, to serve it to peers.
    pub fn put_signed(&self, number: u64, hash: &str, zkvm: &str, node: &str, bytes: &[u8]) -> Result<()> {
        let by_root = format!("r/{hash}/{zkvm}/{node}");
        let mut by_number = b"n/".to_vec();
        by_number.extend_from_slice(&number.to_be_bytes());
        by_number.extend_from_slice(by_root.as_bytes());
        let mut batch = rocksdb::WriteBatch::default();
        batch.put(by_root.as_bytes(), bytes);
        batch.put(by_number, b"");
        self.db.write(batch).map_err(|e| self.err(e))
    }

    /// Signed proofs for (block hash, zkVM), at most 16.
    pub fn signed_by_root(&self, hash: &str, zkvm: &str) -> Result<Vec<Vec<u8>>> {
        let prefix = format!("r/{hash}/{zkvm}/");
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward)) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(prefix.as_bytes()) || out.len() == 16 {
                break;
            }
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// Signed proofs for blocks `start..start + count` (all zkVMs when `zkvms` is empty), by number.
    pub fn signed_by_range(&self, start: u64, count: u64, zkvms: &[String]) -> Result<Vec<Vec<u8>>> {
        let mut from = b"n/".to_vec();
        from.extend_from_slice(&start.to_be_bytes());
        let end = start.saturating_add(count);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&from, rocksdb::Direction::Forward)) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(b"n/") || k.len() < 10 || out.len() >= 512 {
                break;
            }
            let number = u64::from_be_bytes(k[2..10].try_into().unwrap_or_default());
            if number >= end {
                break;
            }
            let root_key = &k[10..];
            let zkvm_ok = zkvms.is_empty()
                || std::str::from_utf8(root_key)
                    .ok()
                    .and_then(|s| s.split('/').nth(2))
                    .is_some_and(|z| zkvms.iter().any(|w| w == z));
            if zkvm_ok && let Some(v) = self.db.get(root_key).map_err(|e| self.err(e))? {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn input_path(&self, digest_hex: &str) -> PathBuf {
        self.inputs.join(format!("{digest_hex}.json"))
    }

    /// Stores a proving input under its digest (once).
    pub fn put_input(&self, digest_hex: &str, bytes: &[u8]) -> Result<()> {
        let path = self.input_path(digest_hex);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| ResultsError::Db { path: path.clone(), message: format!("writing input: {e}") })
    }

    pub fn input(&self, digest_hex: &str) -> Option<Vec<u8>> {
        std::fs::read(self.input_path(digest_hex)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_across_reopen_and_order_by_number() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = ResultStore::open(dir.path()).unwrap();
            for n in [5u64, 3, 4] {
                s.put(&BlockRecord { block_number: n, block_hash: format!("0x{n:064x}"), ..Default::default() })
                    .unwrap();
            }
            let mut r = s.get(4, &format!("0x{:064x}", 4)).unwrap().unwrap();
            r.closed = true;
            s.put(&r).unwrap();
            s.put_input("ab", b"{}").unwrap();
        }
        let s = ResultStore::open(dir.path()).unwrap();
        let all: Vec<u64> = s.all().unwrap().iter().map(|r| r.block_number).collect();
        assert_eq!(all, [3, 4, 5], "one record per block, by number");
        assert!(s.get(4, &format!("0x{:064x}", 4)).unwrap().unwrap().closed);
        assert_eq!(s.recent(2).unwrap()[0].block_number, 5);
        assert_eq!(s.at_height(4).unwrap().len(), 1);
        assert!(s.at_height(6).unwrap().is_empty());
        assert_eq!(s.input("ab").as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn signed_proofs_are_served_by_root_and_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let s = ResultStore::open(dir.path()).unwrap();
        let h = |n: u64| format!("0x{n:064x}");
        for n in 10..20u64 {
            s.put_signed(n, &h(n), "stark", "node-a", &[n as u8, 1]).unwrap();
            s.put_signed(n, &h(n), "sim:pico-prism", "node-b", &[n as u8, 2]).unwrap();
        }
        s.put(&BlockRecord { block_number: 12, block_hash: h(12), ..Default::default() }).unwrap();
        assert_eq!(s.signed_by_root(&h(12), "stark").unwrap(), vec![vec![12, 1]]);
        assert!(s.signed_by_root(&h(12), "sp1").unwrap().is_empty());
        let range = s.signed_by_range(12, 3, &[]).unwrap();
        assert_eq!(range.len(), 6, "blocks 12, 13, 14 with both zkVMs");
        assert!(range.iter().all(|v| (12..15).contains(&v[0])));
        let only = s.signed_by_range(0, 100, &["stark".to_string()]).unwrap();
        assert_eq!(only.len(), 10);
        assert_eq!(s.all().unwrap().len(), 1, "proof keys are not block records");
    }
}
