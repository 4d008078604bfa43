//! Which slot a block belongs to and when its proving deadline falls.

use std::time::Duration;

/// Mainnet beacon chain genesis (2020-12-01 12:00:23 UTC) and slot length.
pub const MAINNET_GENESIS_TIME: u64 = 1_606_824_023;
pub const MAINNET_SLOT: Duration = Duration::from_secs(12);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotClock {
    /// A real chain: slot from the block timestamp.
    Beacon { genesis_time: u64, slot: Duration },
    /// The dev chain's replay: a block's slot starts when it is announced.
    Replay { genesis_ms: u64, slot: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotTiming {
    pub slot: u64,
    /// Unix ms.
    pub start_ms: u64,
    pub deadline_ms: u64,
}

impl SlotClock {
    pub fn slot_length(&self) -> Duration {
        match self {
            SlotClock::Beacon { slot, .. } | SlotClock::Replay { slot, .. } => *slot,
        }
    }

    /// `timestamp` is the block's (seconds); `replay_index` its place in a dev chain replay.
    pub fn timing(&self, timestamp: u64, replay_index: Option<u64>) -> SlotTiming {
        match *self {
            SlotClock::Beacon { genesis_time, slot } => {
                let secs = slot.as_secs().max(1);
                // Pre-merge blocks have no beacon slot: their own time stands in.
                let n = timestamp.saturating_sub(genesis_time) / secs;
                // Saturating: a timestamp is whatever a block (or a request) says.
                let start_s = if timestamp >= genesis_time { genesis_time.saturating_add(n * secs) } else { timestamp };
                let start_ms = start_s.saturating_mul(1000);
                SlotTiming { slot: n, start_ms, deadline_ms: start_ms.saturating_add(slot.as_millis() as u64) }
            }
            SlotClock::Replay { genesis_ms, slot } => {
                let n = replay_index.unwrap_or(0);
                let start_ms = genesis_ms + n * slot.as_millis() as u64;
                SlotTiming { slot: n, start_ms, deadline_ms: start_ms + slot.as_millis() as u64 }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_slots_from_timestamps() {
        let c = SlotClock::Beacon { genesis_time: MAINNET_GENESIS_TIME, slot: MAINNET_SLOT };
        // Block 21230866 (timestamp 0x673e306b).
        let t = c.timing(0x673e306b, None);
        assert_eq!(t.slot, (0x673e306b - MAINNET_GENESIS_TIME) / 12);
        assert_eq!(t.deadline_ms - t.start_ms, 12_000);
        assert!(t.start_ms <= 0x673e306b * 1000 && 0x673e306b * 1000 < t.deadline_ms);
    }
}
