//! The persistence side of a backend: where a queue's changes go.

use crate::error::Result;
use crate::state::Changes;

/// A backend's store. `submit` is called under the queue's lock, so submissions
/// arrive in operation order; `wait` is called after the lock is released, so
/// concurrent callers can share one write (group commit).
pub(crate) trait Store: Send + Sync {
    fn backend(&self) -> &'static str;
    /// Whether changes need encoding at all.
    fn persists(&self) -> bool;
    /// Fails once an earlier write failed: memory and disk may disagree.
    fn healthy(&self) -> Result<()>;
    /// Queues the changes; returns a ticket to wait on, or `None` if there is nothing to wait for.
    fn submit(&self, changes: Changes) -> Option<u64>;
    /// Returns once the ticket's changes are written as durably as the mode promises.
    fn wait(&self, ticket: u64) -> Result<()>;
}

/// The in-memory backend: nothing is written, nothing survives the process.
pub(crate) struct MemoryStore;

impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }
    fn persists(&self) -> bool {
        false
    }
    fn healthy(&self) -> Result<()> {
        Ok(())
    }
    fn submit(&self, _changes: Changes) -> Option<u64> {
        None
    }
    fn wait(&self, _ticket: u64) -> Result<()> {
        Ok(())
    }
}
