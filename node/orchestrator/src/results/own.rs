//! The node's own verified proofs, raw, for the dashboard's download link:
//! keyed `o/`, block number (big-endian), raw block hash, zkVM name, so the
//! proofs of old blocks go with one range delete. Only the newest
//! [`OWN_PROOF_BLOCKS`] heights keep theirs (a real zkVM's proof is a
//! megabyte or more; a week of them is not what a download link is worth).
//! Proofs the network made stay in the signed-proof table (`signed.rs`).

use rocksdb::WriteBatch;
use slotproof_primitives::Hash32;

use super::{Result, ResultStore};

/// Heights whose own proofs are kept for download (below the newest followed block).
pub const OWN_PROOF_BLOCKS: u64 = 256;

/// `o/` and the block number: the start of that height's proofs.
fn height_prefix(number: u64) -> Vec<u8> {
    [&b"o/"[..], &number.to_be_bytes()].concat()
}

fn key(number: u64, hash: &Hash32, zkvm: &str) -> Vec<u8> {
    [&height_prefix(number)[..], hash.as_bytes(), zkvm.as_bytes()].concat()
}

impl ResultStore {
    /// Keeps an own verified proof's bytes (replacing an earlier one of the same block and zkVM).
    pub fn put_own_proof(&self, number: u64, hash: &Hash32, zkvm: &str, proof: &[u8]) -> Result<()> {
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(false);
        self.db.put_opt(key(number, hash, zkvm), proof, &opts).map_err(|e| self.err(e))
    }

    /// An own proof's bytes, when still kept.
    pub fn own_proof(&self, number: u64, hash: &Hash32, zkvm: &str) -> Result<Option<Vec<u8>>> {
        self.db.get(key(number, hash, zkvm)).map_err(|e| self.err(e))
    }

    /// Drops the own proofs of every block numbered below `below` (one range delete).
    pub fn prune_own_proofs_below(&self, below: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range(height_prefix(0), height_prefix(below));
        self.db.write(batch).map_err(|e| self.err(e))
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
        s.prune_own_proofs_below(3).unwrap();
        assert_eq!(s.own_proof(2, &h(2), "stark").unwrap(), None);
        assert_eq!(s.own_proof(3, &h(3), "stark").unwrap(), Some(vec![3, 3, 3]));
        assert_eq!(s.all().unwrap().len(), 4, "records stay");
        assert_eq!(s.recent(10).unwrap()[0].block_number, 4, "own proofs are not records");
    }
}
