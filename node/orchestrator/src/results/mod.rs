//! What the node proved: one record per (block number, hash), updated as
//! proofs arrive, and the proving inputs, content-addressed. RocksDB under
//! `<data dir>/results`; a record is rewritten whole, so a restart never holds
//! half an update and never a second record for a block.

mod migrate;
mod own;
mod record;
mod retention;
pub mod signed;
mod summary;

use std::path::{Path, PathBuf};

use rocksdb::{DB, IteratorMode, Options};
use slotproof_primitives::{Hash32, hex};

pub use crate::error::ResultsError;
pub use own::OWN_PROOF_BLOCKS;
pub use record::{BlockRecord, ProofRecord, ProofStatus, ReceivedProof};
pub use signed::Put;
pub use summary::{BlockSummary, NetworkProofSummary, ProofSummary, summary_of, write_summary};

pub type Result<T> = std::result::Result<T, ResultsError>;

pub struct ResultStore {
    db: DB,
    path: PathBuf,
    inputs: PathBuf,
    /// `<data dir>/own-proofs`: own verified proofs kept for download (`own.rs`).
    own: PathBuf,
}

/// Record keys: `b/`, the number (big-endian), the raw block hash.
fn key(number: u64, hash: &Hash32) -> Vec<u8> {
    let mut k = Vec::with_capacity(42);
    k.extend_from_slice(b"b/");
    k.extend_from_slice(&number.to_be_bytes());
    k.extend_from_slice(hash.as_bytes());
    k
}

/// Decodes one stored record, naming its key when it cannot.
fn decode_record(k: &[u8], v: &[u8]) -> Result<BlockRecord> {
    serde_json::from_slice(v).map_err(|source| ResultsError::Corrupt { key: hex::encode_prefixed(k), source })
}

impl ResultStore {
    pub fn open(data_dir: &Path) -> Result<ResultStore> {
        let path = data_dir.join("results");
        let inputs = data_dir.join("inputs");
        std::fs::create_dir_all(&inputs).map_err(|source| ResultsError::Io { path: inputs.clone(), source })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, &path).map_err(|source| {
            let locked = source.to_string().contains("lock");
            ResultsError::Open { path: path.clone(), locked, source }
        })?;
        let own = data_dir.join("own-proofs");
        let store = ResultStore { db, path, inputs, own };
        if store.db.get(migrate::UPGRADED).map_err(|e| store.err(e))?.is_none() {
            migrate::to_raw_hash_keys(&store.db).map_err(|e| store.err(e))?;
            let (moved, dropped) = signed::migrate_old_layout(&store.db).map_err(|e| store.err(e))?;
            if moved + dropped > 0 {
                tracing::info!(target: "slotproof::node", moved, dropped, "results database: signed proofs moved to length-prefixed keys (names outside the names rule dropped)");
            }
            store.db.put(migrate::UPGRADED, b"").map_err(|e| store.err(e))?;
        }
        Ok(store)
    }

    fn err(&self, source: rocksdb::Error) -> ResultsError {
        ResultsError::Db { path: self.path.clone(), source }
    }

    pub fn put(&self, r: &BlockRecord) -> Result<()> {
        let value =
            serde_json::to_vec(r).map_err(|source| ResultsError::Corrupt { key: r.block_hash.to_string(), source })?;
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(false);
        self.db.put_opt(key(r.block_number, &r.block_hash), value, &opts).map_err(|e| self.err(e))
    }

    pub fn get(&self, number: u64, hash: &Hash32) -> Result<Option<BlockRecord>> {
        let k = key(number, hash);
        match self.db.get(&k).map_err(|e| self.err(e))? {
            Some(v) => decode_record(&k, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Records whose keys start with `prefix`, walking forward or back, at most `limit`.
    fn scan(&self, prefix: &[u8], mode: IteratorMode<'_>, limit: usize) -> Result<Vec<BlockRecord>> {
        let mut out = Vec::new();
        for item in self.db.iterator(mode) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push(decode_record(&k, &v)?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every record, by block number (then hash).
    pub fn all(&self) -> Result<Vec<BlockRecord>> {
        self.scan(b"b/", IteratorMode::From(b"b/", rocksdb::Direction::Forward), usize::MAX)
    }

    /// The records at one height (one, or more after a reorg).
    pub fn at_height(&self, number: u64) -> Result<Vec<BlockRecord>> {
        let mut prefix = b"b/".to_vec();
        prefix.extend_from_slice(&number.to_be_bytes());
        self.scan(&prefix, IteratorMode::From(&prefix, rocksdb::Direction::Forward), usize::MAX)
    }

    /// The newest `n` records, newest first.
    pub fn recent(&self, n: usize) -> Result<Vec<BlockRecord>> {
        if n == 0 {
            return Ok(vec![]);
        }
        // Backward from just past the records (`0` sorts right after `/`), so the
        // signed-proof keys sorted after them are never walked.
        self.scan(b"b/", IteratorMode::From(b"b0", rocksdb::Direction::Reverse), n)
    }

    /// Stores a signed proof (encoded), own or received, to serve it to peers;
    /// `Full` when (block, zkVM) already holds `signed::MAX_PER_ZKVM` from others.
    pub fn put_signed(&self, number: u64, hash: &Hash32, zkvm: &str, node: &str, bytes: &[u8]) -> Result<Put> {
        signed::put(&self.db, number, hash, zkvm, node, bytes).map_err(|e| self.err(e))
    }

    /// Signed proofs for (block hash, zkVM), at most `signed::MAX_PER_ZKVM`, within `max_bytes`.
    pub fn signed_by_root(&self, hash: &Hash32, zkvm: &str, max_bytes: usize) -> Result<Vec<Vec<u8>>> {
        signed::by_root(&self.db, hash, zkvm, max_bytes).map_err(|e| self.err(e))
    }

    /// The signed proof `node` made of (block hash, zkVM), when held.
    pub fn signed_of(&self, hash: &Hash32, zkvm: &str, node: &str) -> Result<Option<Vec<u8>>> {
        let key = [&signed::zkvm_prefix(hash, zkvm)[..], node.as_bytes()].concat();
        self.db.get(key).map_err(|e| self.err(e))
    }

    /// Signed proofs for blocks `start..start + count` (all zkVMs when `zkvms`
    /// is empty), by number, within `max_bytes`.
    pub fn signed_by_range(&self, start: u64, count: u64, zkvms: &[String], max_bytes: usize) -> Result<Vec<Vec<u8>>> {
        signed::by_range(&self.db, (start, count), zkvms, max_bytes).map_err(|e| self.err(e))
    }

    fn input_path(&self, digest: &Hash32) -> PathBuf {
        self.inputs.join(format!("{}.json", hex::encode(digest.as_bytes())))
    }

    /// Stores a proving input under its digest (once).
    pub fn put_input(&self, digest: &Hash32, bytes: &[u8]) -> Result<()> {
        let path = self.input_path(digest);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| ResultsError::Io { path: path.clone(), source })
    }

    pub fn input(&self, digest: &Hash32) -> Option<Vec<u8>> {
        std::fs::read(self.input_path(digest)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u64) -> Hash32 {
        format!("0x{n:064x}").parse().unwrap()
    }

    #[test]
    fn records_round_trip_across_reopen_and_order_by_number() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = ResultStore::open(dir.path()).unwrap();
            for n in [5u64, 3, 4] {
                s.put(&BlockRecord { block_number: n, block_hash: h(n), ..Default::default() }).unwrap();
            }
            let mut r = s.get(4, &h(4)).unwrap().unwrap();
            r.closed = true;
            s.put(&r).unwrap();
            s.put_input(&h(0xab), b"{}").unwrap();
        }
        let s = ResultStore::open(dir.path()).unwrap();
        let all: Vec<u64> = s.all().unwrap().iter().map(|r| r.block_number).collect();
        assert_eq!(all, [3, 4, 5], "one record per block, by number");
        assert!(s.get(4, &h(4)).unwrap().unwrap().closed);
        assert_eq!(s.recent(2).unwrap()[0].block_number, 5);
        assert_eq!(s.at_height(4).unwrap().len(), 1);
        assert!(s.at_height(6).unwrap().is_empty());
        assert_eq!(s.input(&h(0xab)).as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn signed_proofs_are_served_by_root_and_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let s = ResultStore::open(dir.path()).unwrap();
        for n in 10..20u64 {
            s.put_signed(n, &h(n), "stark", "nodea", &[n as u8, 1]).unwrap();
            s.put_signed(n, &h(n), "sim:pico-prism", "nodeb", &[n as u8, 2]).unwrap();
        }
        s.put(&BlockRecord { block_number: 12, block_hash: h(12), ..Default::default() }).unwrap();
        assert_eq!(s.signed_by_root(&h(12), "stark", usize::MAX).unwrap(), vec![vec![12, 1]]);
        assert!(s.signed_by_root(&h(12), "sp1", usize::MAX).unwrap().is_empty());
        let range = s.signed_by_range(12, 3, &[], usize::MAX).unwrap();
        assert_eq!(range.len(), 6, "blocks 12, 13, 14 with both zkVMs");
        assert!(range.iter().all(|v| (12..15).contains(&v[0])));
        let only = s.signed_by_range(0, 100, &["stark".to_string()], usize::MAX).unwrap();
        assert_eq!(only.len(), 10);
        assert_eq!(s.signed_by_range(0, 100, &[], 5).unwrap().len(), 2, "two 2-byte proofs fit 5 bytes");
        assert_eq!(s.all().unwrap().len(), 1, "proof keys are not block records");
        assert_eq!(s.recent(5).unwrap().len(), 1);
    }
}
