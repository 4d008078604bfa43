//! Read-modify-write of block records, serialised: the node loop and the
//! recorder thread both update records, and neither may lose the other's change.

use std::sync::{Arc, Mutex};

use slotproof_primitives::Hash32;

use crate::results::{BlockRecord, ResultStore, ResultsError};

pub struct RecordBook {
    store: Arc<ResultStore>,
    lock: Mutex<()>,
}

impl RecordBook {
    pub fn new(store: Arc<ResultStore>) -> RecordBook {
        RecordBook { store, lock: Mutex::new(()) }
    }

    pub fn store(&self) -> &Arc<ResultStore> {
        &self.store
    }

    /// Applies `f` to the stored record and writes it back; None when there is no such record.
    pub fn update(
        &self,
        number: u64,
        hash: &Hash32,
        f: impl FnOnce(&mut BlockRecord),
    ) -> Result<Option<BlockRecord>, ResultsError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut r) = self.store.get(number, hash)? else { return Ok(None) };
        f(&mut r);
        self.store.put(&r)?;
        Ok(Some(r))
    }

    /// Writes the record unless one is already stored (a restart re-delivers blocks).
    pub fn insert_new(&self, record: &BlockRecord) -> Result<(), ResultsError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.store.get(record.block_number, &record.block_hash)?.is_none() {
            self.store.put(record)?;
        }
        Ok(())
    }
}
