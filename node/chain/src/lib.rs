//! Following the execution chain (specs/chain.md): JSON-RPC through alloy, a
//! head follower with reorg and gap handling, the slot clock, and the embedded
//! dev chain that replays real mainnet blocks.

pub mod beacon;
pub mod devchain;
mod error;
pub mod follower;
pub mod rpc;
pub mod slot;

pub use beacon::Beacon;
pub use error::ChainError;
pub use follower::{Canonical, ChainEvent, Follower, FollowerConfig};
pub use rpc::{FetchedBlock, Rpc};
pub use slot::{SlotClock, SlotTiming};
