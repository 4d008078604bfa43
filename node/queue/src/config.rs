//! Queue settings shared by both backends.

use std::fmt;
use std::str::FromStr;

use crate::error::QueueError;

/// What a returned write survives (specs/queue.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Written to the WAL before returning: survives `kill -9` of the process.
    #[default]
    Process,
    /// WAL fsynced before returning (group commit): survives power loss.
    Power,
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Process => "process",
            Durability::Power => "power",
        })
    }
}

impl FromStr for Durability {
    type Err = QueueError;

    fn from_str(s: &str) -> Result<Self, QueueError> {
        match s {
            "process" => Ok(Durability::Process),
            "power" => Ok(Durability::Power),
            other => Err(QueueError::UnknownDurability(other.to_string())),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Attempts before a task is dead-lettered, unless the task overrides it.
    pub max_attempts: u32,
    /// First retry delay; doubles per failed attempt.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub durability: Durability,
    /// How long a done id is remembered (specs/queue.md §13): the dedupe
    /// window. Within it a second enqueue of the same id is a no-op; after it
    /// the id is forgotten and the same task could run again.
    pub done_retention_ms: u64,
}

/// The default dedupe window: a day, far longer than any retry or restart
/// re-decides a task, and a bounded set (a day of completions).
pub const DEFAULT_DONE_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_attempts: 5,
            backoff_base_ms: 100,
            backoff_max_ms: 30_000,
            durability: Durability::Process,
            done_retention_ms: DEFAULT_DONE_RETENTION_MS,
        }
    }
}

impl QueueConfig {
    /// Delay before the next attempt after `attempts` failed ones (specs/queue.md §4).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(32);
        self.backoff_base_ms.saturating_mul(1u64 << shift).min(self.backoff_max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = QueueConfig::default();
        assert_eq!(c.backoff_ms(1), 100);
        assert_eq!(c.backoff_ms(2), 200);
        assert_eq!(c.backoff_ms(4), 800);
        assert_eq!(c.backoff_ms(60), 30_000);
    }

    #[test]
    fn durability_round_trips_and_refuses_other_words() {
        for d in [Durability::Process, Durability::Power] {
            assert_eq!(d.to_string().parse::<Durability>().ok(), Some(d));
        }
        let err = "fsync".parse::<Durability>().err();
        assert!(matches!(&err, Some(QueueError::UnknownDurability(w)) if w == "fsync"), "{err:?}");
    }
}
