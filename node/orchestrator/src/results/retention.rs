//! Retention of the results store (specs/chain.md §5): block records below a
//! cut, with their proving input and signed proofs, deleted oldest first and a
//! bounded number per step, so the store holds the newest `keep_blocks`
//! blocks and one step never stalls the node. It never touches a record at
//! or above the cut.

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::{Result, ResultStore, decode_record};

impl ResultStore {
    /// The number of the newest record the followed chain showed (not one
    /// only a proof-engine request named), looking at most `scan` records back.
    pub fn newest_followed(&self, scan: usize) -> Result<Option<u64>> {
        for item in self.db.iterator(IteratorMode::From(b"b0", Direction::Reverse)).take(scan) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(b"b/") {
                break;
            }
            let record = decode_record(&k, &v)?;
            if !record.requested {
                return Ok(Some(record.block_number));
            }
        }
        Ok(None)
    }

    /// The `n`-th height (counting distinct block numbers, newest first) at
    /// or below `from`; `None` when the store holds fewer. Keys only.
    pub fn nth_height_below(&self, from: u64, n: u64) -> Result<Option<u64>> {
        let mut start = b"b/".to_vec();
        start.extend_from_slice(&from.saturating_add(1).to_be_bytes());
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(&start);
        let (mut seen, mut last) = (0u64, None);
        while it.valid() {
            let Some(key) = it.key() else { break };
            let Some(number) = key.get(2..10).filter(|_| key.starts_with(b"b/")) else { break };
            let number = u64::from_be_bytes(number.try_into().unwrap_or([0; 8]));
            if number <= from && last != Some(number) {
                seen += 1;
                last = Some(number);
                if seen == n {
                    return Ok(Some(number));
                }
            }
            it.prev();
        }
        it.status().map_err(|e| self.err(e))?;
        Ok(None)
    }

    /// Deletes one record and its proving input (a requested block's, when
    /// more are kept than the bound); signed proofs at its height stay, as
    /// they may be another record's.
    pub fn delete(&self, number: u64, hash: &slotproof_primitives::Hash32) -> Result<()> {
        let Some(record) = self.get(number, hash)? else { return Ok(()) };
        self.db.delete(super::key(number, hash)).map_err(|e| self.err(e))?;
        let shared = self.at_height(number)?.iter().any(|r| r.input_digest == record.input_digest);
        if !shared {
            let _ = std::fs::remove_file(self.input_path(&record.input_digest));
        }
        Ok(())
    }

    /// Deletes the records of at most `max` blocks numbered below `below`
    /// (every hash at each height), their proving inputs and their signed
    /// proofs. Returns how many records went.
    pub fn prune_below(&self, below: u64, max: usize) -> Result<usize> {
        let mut batch = WriteBatch::default();
        let mut inputs = Vec::new();
        let mut numbers = Vec::new();
        for item in self.db.iterator(IteratorMode::From(b"b/", Direction::Forward)) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let Some(number) = k.get(2..10).filter(|_| k.starts_with(b"b/")) else { break };
            let number = u64::from_be_bytes(number.try_into().unwrap_or([0xff; 8]));
            if number >= below || numbers.len() == max {
                break;
            }
            let record = decode_record(&k, &v)?;
            batch.delete(&k);
            inputs.push(self.input_path(&record.input_digest));
            numbers.push(number);
        }
        for number in numbers.iter().copied().collect::<std::collections::BTreeSet<_>>() {
            self.delete_signed_at(number, &mut batch)?;
        }
        self.db.write(batch).map_err(|e| self.err(e))?;
        for path in inputs {
            // Gone already (another record of the height shared it) is fine.
            let _ = std::fs::remove_file(path);
        }
        Ok(numbers.len())
    }

    /// Adds the deletes of every signed proof of block `number` (both keys) to `batch`.
    fn delete_signed_at(&self, number: u64, batch: &mut WriteBatch) -> Result<()> {
        let prefix = super::signed::number_key(number, &[]);
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            batch.delete(&k[10..]);
            batch.delete(&k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::BlockRecord;
    use slotproof_primitives::Hash32;

    fn h(n: u64) -> Hash32 {
        format!("0x{n:064x}").parse().unwrap()
    }

    /// specs/chain.md §5: records below the cut go, oldest first, at most
    /// `max` per step, with their inputs and signed proofs; the rest stay,
    /// across a reopen.
    #[test]
    fn old_records_are_pruned_in_bounded_steps() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = ResultStore::open(dir.path()).unwrap();
            for n in 1..=6u64 {
                s.put(&BlockRecord {
                    block_number: n,
                    block_hash: h(n),
                    input_digest: h(100 + n),
                    ..Default::default()
                })
                .unwrap();
                s.put_input(&h(100 + n), b"{}").unwrap();
                s.put_signed(n, &h(n), "stark", "node", b"signed").unwrap();
            }
            assert_eq!(s.prune_below(4, 2).unwrap(), 2, "at most two per step");
            assert_eq!(s.prune_below(4, 10).unwrap(), 1, "only below the cut");
            assert_eq!(s.prune_below(4, 10).unwrap(), 0);
        }
        let s = ResultStore::open(dir.path()).unwrap();
        let left: Vec<u64> = s.all().unwrap().iter().map(|r| r.block_number).collect();
        assert_eq!(left, [4, 5, 6]);
        assert!(s.input(&h(101)).is_none() && s.input(&h(104)).is_some());
        assert!(s.signed_by_root(&h(1), "stark", usize::MAX).unwrap().is_empty());
        assert_eq!(s.signed_by_root(&h(4), "stark", usize::MAX).unwrap().len(), 1);
        assert_eq!(s.signed_by_range(0, 10, &[], usize::MAX).unwrap().len(), 3);
    }
}
