//! The proving network (specs/p2p.md). Implemented so far: leaderless
//! assignment (§4), the part every node must compute identically, and the
//! topic names with their size caps (§3), the SSZ messages with snappy
//! framing (§2). The swarm, signing and validation come next.

pub mod assign;
pub mod topics;
pub mod wire;
