//! The proving network (specs/p2p.md). Implemented so far: leaderless
//! assignment (§4), the part every node must compute identically. The swarm,
//! the wire formats and validation come next.

pub mod assign;
