//! The node's own verified proofs, raw, for the dashboard's download link:
//! files `<data dir>/own-proofs/<block number>/<block hash>.<zkVM>`, so a
//! height's proofs go with its directory and never pass through the results
//! database (a real zkVM's proof is a megabyte or more). Only the newest
//! [`OWN_PROOF_BLOCKS`] followed heights keep theirs, whatever `keep_blocks`
//! says. Proofs the network made stay in the signed-proof table (`signed.rs`).

use std::path::PathBuf;

use slotproof_primitives::{Hash32, hex};

use super::{Result, ResultStore, ResultsError};

/// Heights whose own proofs are kept for download (the newest followed one and those below it).
pub const OWN_PROOF_BLOCKS: u64 = 256;
/// The largest own proof read back (the p2p proof bound): a file grown past it is not served.
pub const MAX_OWN_PROOF_BYTES: u64 = 8 << 20;

impl ResultStore {
    fn own_path(&self, number: u64, hash: &Hash32, zkvm: &str) -> PathBuf {
        self.own.join(number.to_string()).join(format!("{}.{zkvm}", hex::encode(hash.as_bytes())))
    }

    /// Keeps an own verified proof's bytes (replacing an earlier one of the
    /// same block and zkVM). The zkVM name is this node's own (configured,
    /// and within the names rule: no `/`).
    pub fn put_own_proof(&self, number: u64, hash: &Hash32, zkvm: &str, proof: &[u8]) -> Result<()> {
        let path = self.own_path(number, hash, zkvm);
        let io = |source| ResultsError::Io { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        std::fs::write(&tmp, proof).and_then(|_| std::fs::rename(&tmp, &path)).map_err(io)
    }

    /// An own proof's bytes, when still kept (and within [`MAX_OWN_PROOF_BYTES`]).
    pub fn own_proof(&self, number: u64, hash: &Hash32, zkvm: &str) -> Result<Option<Vec<u8>>> {
        if zkvm.contains('/') {
            return Ok(None);
        }
        let path = self.own_path(number, hash, zkvm);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() <= MAX_OWN_PROOF_BYTES => {
                std::fs::read(&path).map(Some).map_err(|source| ResultsError::Io { path, source })
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ResultsError::Io { path, source }),
        }
    }

    /// Drops the own proofs of every block numbered below `below`; returns
    /// how many heights went. Entries that are not a height's directory are left.
    pub fn prune_own_proofs_below(&self, below: u64) -> Result<usize> {
        let entries = match std::fs::read_dir(&self.own) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(ResultsError::Io { path: self.own.clone(), source }),
        };
        let mut pruned = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(number) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else { continue };
            if number < below {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(|source| ResultsError::Io { path, source })?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::BlockRecord;

    fn h(n: u64) -> Hash32 {
        Hash32([n as u8; 32])
    }

    /// specs/dashboard.md §4: an own proof is read back by (block, zkVM) and
    /// goes with its height's cut; block records are not touched by the cut.
    #[test]
    fn own_proofs_are_kept_by_block_and_zkvm_and_cut_by_height() {
        let dir = tempfile::tempdir().unwrap();
        let s = ResultStore::open(dir.path()).unwrap();
        for n in 1..=4u64 {
            s.put(&BlockRecord { block_number: n, block_hash: h(n), ..Default::default() }).unwrap();
            s.put_own_proof(n, &h(n), "stark", &[n as u8; 3]).unwrap();
            s.put_own_proof(n, &h(n), "sim:pico-prism", &[n as u8 + 10]).unwrap();
        }
        assert_eq!(s.own_proof(2, &h(2), "stark").unwrap(), Some(vec![2, 2, 2]));
        assert_eq!(s.own_proof(2, &h(2), "sim:pico-prism").unwrap(), Some(vec![12]));
        assert_eq!(s.own_proof(2, &h(3), "stark").unwrap(), None, "another hash at the height");
        assert_eq!(s.own_proof(2, &h(2), "stark-").unwrap(), None, "a name is matched whole");
        assert_eq!(s.own_proof(2, &h(2), "../2/x").unwrap(), None, "no path from a request");
        assert_eq!(s.prune_own_proofs_below(3).unwrap(), 2);
        assert_eq!(s.own_proof(2, &h(2), "stark").unwrap(), None);
        assert_eq!(s.own_proof(3, &h(3), "stark").unwrap(), Some(vec![3, 3, 3]));
        assert_eq!(s.prune_own_proofs_below(3).unwrap(), 0, "nothing more below the same cut");
        assert_eq!(s.all().unwrap().len(), 4, "records stay");
    }
}
