//! The run: identities one after another, each a fresh keypair on a fresh
//! swarm that joins through the bootnodes, stays in the mesh by forwarding
//! what it hears, and attacks until its lifetime ends (a new identity sheds
//! the old one's score and blocks) or the run is stopped. Each identity is
//! quiet for the first half of its life (Sybil heartbeats, phantom claims
//! and by-range floods, none of which gossip scoring penalises by itself)
//! and loud for the second (junk proofs, injected names, announcement
//! floods), so the quiet attacks get their chance before the loud ones get
//! it graylisted.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use slotproof_p2p::topics::Topic;
use slotproof_p2p::wire::{self, BlockTask};
use slotproof_p2p::{Keypair, MessageAcceptance, NetEvent, NetworkConfig, start_owned};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::{Instant, interval, sleep_until};
use tracing::{info, warn};

use crate::args::Args;
use crate::attacks::Attacker;
use crate::error::AdversaryError;
use crate::served::JunkStore;

/// Sybil heartbeats go out this often (honest nodes beat every few seconds).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// "Forever" for a run without --minutes.
const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long a retired swarm gets to close its connections.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The identity's lifetime ended: the next one takes over.
    Retired,
    /// SIGTERM, Ctrl-C, or the end of --minutes.
    Stopped,
}

/// Runs identities in turn until the run ends.
pub async fn run(args: Args) -> Result<(), AdversaryError> {
    let end = Instant::now() + args.run_for().unwrap_or(UNBOUNDED);
    let mut sigterm = signal(SignalKind::terminate()).map_err(AdversaryError::Signal)?;
    let mut last_block: Option<BlockTask> = None;
    let mut index = 0u32;
    loop {
        // The last identity stays until the end.
        let until = if index + 1 >= args.identities { end } else { end.min(Instant::now() + args.identity_lifetime()) };
        let outcome = identity(&args, index, until, &mut last_block, &mut sigterm).await?;
        if outcome == Outcome::Stopped || Instant::now() >= end {
            info!(identities = index + 1, "run over");
            return Ok(());
        }
        index += 1;
    }
}

fn record_identity(file: Option<&Path>, peer: &str) -> Result<(), AdversaryError> {
    let Some(path) = file else { return Ok(()) };
    let append = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{peer}")
    };
    append().map_err(|source| AdversaryError::IdentitiesFile { path: path.to_path_buf(), source })
}

/// One identity's life: join, attack, leave.
async fn identity(
    args: &Args,
    index: u32,
    until: Instant,
    last_block: &mut Option<BlockTask>,
    sigterm: &mut Signal,
) -> Result<Outcome, AdversaryError> {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id().to_string();
    record_identity(args.identities_file.as_deref(), &me)?;
    info!(identity = index, peer = %me, "joining with a fresh identity");
    let served = Arc::new(JunkStore::default());
    let mut cfg = NetworkConfig::new(args.network.clone());
    cfg.listen = vec![args.listen.clone()];
    cfg.bootnodes = args.bootnodes.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (client, mut events, task) = start_owned(key.clone(), cfg, served.clone(), stop_rx)
        .map_err(|source| AdversaryError::Start { index, source })?;
    let mut attacker = Attacker::new(client.clone(), key, served, args.junk_proof_bytes, args.range_streams);
    let mut heartbeat = interval(HEARTBEAT_EVERY);
    let mut flood = interval(Duration::from_secs(args.flood_every_secs.max(1)));
    let loud_at = Instant::now() + args.identity_lifetime() / 2;
    let outcome = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(NetEvent::Gossip(m)) => {
                    // Forwarding what it hears keeps it in the mesh, so its own messages spread.
                    client.report(m.id.clone(), m.from, MessageAcceptance::Accept).await;
                    if let Some(block) = newer_block(m.topic, &m.data, last_block.as_ref()) {
                        attacker.on_block(&block, Instant::now() >= loud_at).await?;
                        *last_block = Some(block);
                    }
                }
                Some(_) => {}
                None => {
                    warn!(identity = index, "the swarm stopped: retiring the identity");
                    break Outcome::Retired;
                }
            },
            _ = heartbeat.tick() => if let Some(b) = last_block.as_ref() { attacker.heartbeat(b).await? },
            _ = flood.tick() => if let Some(b) = last_block.as_ref() {
                attacker.range_flood(b).await;
                if Instant::now() >= loud_at {
                    attacker.announcement_flood(b).await;
                }
            },
            _ = sleep_until(until) => break Outcome::Retired,
            _ = sigterm.recv() => break Outcome::Stopped,
            _ = tokio::signal::ctrl_c() => break Outcome::Stopped,
        }
    };
    log_stats(index, &me, &attacker);
    let _ = stop_tx.send(true);
    drop(client);
    let _ = tokio::time::timeout(STOP_GRACE, task).await;
    Ok(outcome)
}

/// A block task on gossip newer than the last one heard.
fn newer_block(topic: Topic, data: &[u8], last: Option<&BlockTask>) -> Option<BlockTask> {
    if topic != Topic::Task {
        return None;
    }
    let block: BlockTask = wire::decode(data, topic.cap()).ok()?;
    last.is_none_or(|l| block.number > l.number).then_some(block)
}

fn log_stats(index: u32, me: &str, a: &Attacker) {
    let s = &a.stats;
    info!(
        identity = index,
        peer = %me,
        blocks = s.blocks,
        published = s.published,
        refused = s.refused,
        range_sent = s.range_sent.load(Ordering::Relaxed),
        range_answered = s.range_answered.load(Ordering::Relaxed),
        range_failed = s.range_failed.load(Ordering::Relaxed),
        "identity retired"
    );
}

#[cfg(test)]
mod tests {
    use tree_hash::Hash256;

    use super::*;

    fn task(number: u64) -> BlockTask {
        BlockTask { number, hash: Hash256::from([1; 32]), parent_hash: Hash256::from([0; 32]), slot: 0, deadline_ms: 0 }
    }

    #[test]
    fn only_a_newer_block_task_starts_a_round() {
        let bytes = wire::encode(&task(10));
        assert_eq!(newer_block(Topic::Task, &bytes, None).map(|b| b.number), Some(10));
        assert!(newer_block(Topic::Task, &bytes, Some(&task(10))).is_none());
        assert!(newer_block(Topic::Claim, &bytes, None).is_none());
        assert!(newer_block(Topic::Task, b"junk", None).is_none(), "junk from a peer is no block");
    }

    #[test]
    fn identities_are_appended_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids");
        record_identity(Some(&path), "a").unwrap();
        record_identity(Some(&path), "b").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
    }
}
