//! The dashboard's live feed (specs/dashboard.md §3): one task builds a
//! snapshot a second while anyone watches, and hands it to every open
//! `/events` stream through a watch channel, so a hundred open tabs cost one
//! snapshot, and a slow reader only ever misses old ones. It never builds
//! while nobody watches, and it bounds the streams it serves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slotproof_primitives::now_ms;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::view::{Snapshot, Sources};

/// Open `/events` streams at once; more are refused with 503.
pub const MAX_STREAMS: usize = 64;
/// How often the snapshot is rebuilt while someone watches.
const EVERY: Duration = Duration::from_secs(1);
/// An unchanged snapshot is still sent this often (it carries the node's clock).
const RESEND: Duration = Duration::from_secs(10);

pub struct Feed {
    sources: Arc<Sources>,
    tx: watch::Sender<Arc<str>>,
    streams: Arc<Semaphore>,
}

impl Feed {
    pub fn new(sources: Sources) -> Feed {
        Feed {
            sources: Arc::new(sources),
            tx: watch::Sender::new(Arc::from("")),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        }
    }

    /// A snapshot now, as JSON (blocking reads moved off the async workers).
    pub async fn current(&self) -> Arc<str> {
        let sources = self.sources.clone();
        match tokio::task::spawn_blocking(move || encode(&sources.snapshot(now_ms()))).await {
            Ok(json) => Arc::from(json),
            Err(e) => {
                warn!(target: "slotproof::http", error = %e, "dashboard snapshot panicked");
                Arc::from("{}")
            }
        }
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// A place among the open streams, and the channel to read; None at the bound.
    pub fn subscribe(&self) -> Option<(OwnedSemaphorePermit, watch::Receiver<Arc<str>>)> {
        let permit = self.streams.clone().try_acquire_owned().ok()?;
        Some((permit, self.tx.subscribe()))
    }

    /// Rebuilds while anyone watches, until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut last = (String::new(), Instant::now());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.cancelled() => return,
            }
            if self.tx.receiver_count() == 0 {
                continue;
            }
            let sources = self.sources.clone();
            let Ok(snap) = tokio::task::spawn_blocking(move || sources.snapshot(now_ms())).await else { continue };
            // Unchanged but for the clock: not sent again, unless RESEND passed.
            let content = encode(&Snapshot { now_ms: 0, ..snap.clone() });
            if content == last.0 && last.1.elapsed() < RESEND {
                continue;
            }
            last = (content, Instant::now());
            self.tx.send_replace(Arc::from(encode(&snap)));
        }
    }
}

fn encode(s: &Snapshot) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "{}".into())
}
