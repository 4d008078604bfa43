//! The proving network (specs/p2p.md). Implemented so far: leaderless
//! assignment (§4), the part every node must compute identically, and the
//! topic names with their size caps (§3). The swarm, the SSZ messages and
//! validation come next.

pub mod assign;
pub mod topics;
