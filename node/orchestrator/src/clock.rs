//! Which slot a block belongs to and when its proving deadline falls: asked
//! of the embedded dev chain (it replays blocks on its own clock), computed
//! from beacon genesis on a real chain.

use std::time::Duration;

use serde_json::{Value, json};
use slotproof_chain::devchain::CLIENT_VERSION;
use slotproof_chain::{FetchedBlock, Rpc, SlotClock};
use tracing::info;

/// When a block's slot starts and its proofs are due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockTiming {
    pub slot: u64,
    pub start_ms: u64,
    pub deadline_ms: u64,
}

/// How slots are numbered.
pub enum Clock {
    Beacon(SlotClock),
    DevChain(Rpc),
}

impl Clock {
    pub fn beacon(slot: Duration, genesis_time: u64) -> Clock {
        Clock::Beacon(SlotClock::Beacon { genesis_time, slot })
    }

    /// None while the RPC cannot be reached: asked again at the first block.
    pub async fn detect(url: &str, slot: Duration, genesis_time: u64) -> Option<Clock> {
        match Rpc::connect(url).await {
            Ok(rpc) => match rpc.client_version().await {
                Ok(v) if v.starts_with(CLIENT_VERSION) => Some(Clock::DevChain(rpc)),
                Ok(_) => Some(Clock::beacon(slot, genesis_time)),
                Err(_) => None,
            },
            Err(e) => {
                info!(target: "slotproof::node", error = %e, "RPC not reachable yet; the slot clock is chosen at the first block");
                None
            }
        }
    }

    pub async fn timing(&self, block: &FetchedBlock, arrival_ms: u64, slot_time: Duration) -> BlockTiming {
        match self {
            Clock::Beacon(c) => {
                let t = c.timing(block.timestamp, None);
                BlockTiming { slot: t.slot, start_ms: t.start_ms, deadline_ms: t.deadline_ms }
            }
            Clock::DevChain(rpc) => {
                let v = rpc.raw("slotproof_slotOf", json!([block.hash])).await.unwrap_or(Value::Null);
                let slot = v["slot"].as_u64().unwrap_or(0);
                let start_ms = v["start_ms"].as_u64().unwrap_or(arrival_ms);
                let len = v["slot_time_ms"].as_u64().unwrap_or(slot_time.as_millis() as u64);
                BlockTiming { slot, start_ms, deadline_ms: start_ms + len }
            }
        }
    }
}

/// The clock once known, detected lazily: the RPC may be down when the node starts.
pub struct SlotSource {
    url: String,
    slot_time: Duration,
    genesis_time: u64,
    clock: Option<Clock>,
}

impl SlotSource {
    pub async fn new(url: &str, slot_time: Duration, genesis_time: u64) -> SlotSource {
        let clock = Clock::detect(url, slot_time, genesis_time).await;
        SlotSource { url: url.to_string(), slot_time, genesis_time, clock }
    }

    /// The block's timing; the beacon clock stands in while the RPC cannot say which chain it is.
    pub async fn timing(&mut self, block: &FetchedBlock, arrival_ms: u64) -> BlockTiming {
        if self.clock.is_none() {
            self.clock = Clock::detect(&self.url, self.slot_time, self.genesis_time).await;
        }
        match &self.clock {
            Some(c) => c.timing(block, arrival_ms, self.slot_time).await,
            None => Clock::beacon(self.slot_time, self.genesis_time).timing(block, arrival_ms, self.slot_time).await,
        }
    }
}
