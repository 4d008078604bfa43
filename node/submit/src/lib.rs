//! Submitting proofs to an Ethproofs-style API (specs/submission.md §1–§2):
//! the API bodies (`api`), the client with its rate limiter (`client`) and the
//! durable outbox sender (`outbox`).
//!
//! It owns what goes over the wire to the service and how each answer is
//! handled. It never decides what to submit (the node writes outbox entries),
//! never creates clusters on its own, and never serves the API: the
//! Ethproofs-compatible test server is the crate `slotproof-ethproofs-server`,
//! which depends on this one for the shared bodies, not the other way round.

pub mod api;
pub mod client;
pub mod error;
pub mod outbox;

pub use client::{Client, Limiter, StatusCall, load_token};
pub use error::{ErrorChain, RetryError, SubmitError, TokenError, what_to_fix};
pub use outbox::{OUTBOX_QUEUE, OutboxHealth, Refusal, Sender, Submission, outbox_drained, run_sender};
