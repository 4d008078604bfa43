//! Queue settings shared by both backends.

use std::fmt;
use std::str::FromStr;

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
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "process" => Ok(Durability::Process),
            "power" => Ok(Durability::Power),
            other => Err(format!("unknown durability {other:?}: expected process or power")),
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
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { max_attempts: 5, backoff_base_ms: 100, backoff_max_ms: 30_000, durability: Durability::Process }
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
}
