//! Submitting proofs to an Ethproofs-style API (specs/submission.md): the
//! client, the durable outbox sender, and an Ethproofs-compatible server for
//! testnets.

pub mod api;
pub mod client;
pub mod outbox;
pub mod server;

pub use client::{Client, Limiter, SubmitError, load_token};
pub use outbox::{OUTBOX_QUEUE, Submission, run_sender};
