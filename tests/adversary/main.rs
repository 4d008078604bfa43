//! `slotproof-adversary`: a hostile node for the chaos testnet
//! (`testnet/chaos.sh`, specs/p2p.md §7). It joins a proving network over
//! real libp2p and, over its run, makes every attack of issue 13: Sybil
//! heartbeats, claims it never proves, junk and unverifiable proofs, zkVM-name
//! injection, oversized by-range requests from many streams, announcement
//! floods, and fresh identities to shed its score.
//!
//! Owns only the attacker's side of the wire. It never reads a node's data
//! dir or HTTP endpoints (what the attacks did is judged by chaos.sh from the
//! honest nodes' records and logs), and it never stops on what honest nodes
//! send back: every reply, refusal and disconnect is expected.

mod args;
mod attacks;
mod error;
mod forge;
mod raw;
mod served;
mod session;

use std::process::ExitCode;

use clap::Parser;
use tracing::error;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn"));
    // Plain text into log files (chaos.sh greps them); colour only on a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "starting the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(session::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %error::chain(&e), "adversary stopped");
            ExitCode::FAILURE
        }
    }
}
