//! The dashboard's live feed and its reads (specs/dashboard.md §3): one task
//! builds a snapshot a second while anyone watches, and hands it to every
//! open `/events` stream through a watch channel, so a hundred open tabs cost
//! one snapshot, and a slow reader only ever misses old ones. It never builds
//! while nobody watches; it bounds the streams it serves, how long each
//! lives, and how many blocking reads run at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slotproof_primitives::now_ms;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::error::DashboardError;
use super::view::{Snapshot, Sources};

/// Open `/events` streams at once; more are refused with 503.
pub const MAX_STREAMS: usize = 64;
/// A stream ends after this long (the browser reconnects at once), so no
/// client keeps a place for good.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(600);
/// Blocking reads (snapshots, block details, proofs) at once; a request
/// waiting longer than [`READ_WAIT`] for one is refused with 503.
const MAX_READS: usize = 4;
const READ_WAIT: Duration = Duration::from_secs(5);
/// How often the snapshot is rebuilt while someone watches; a snapshot this
/// young is served as it is.
const EVERY: Duration = Duration::from_secs(1);
/// An unchanged snapshot is still sent this often (it carries the node's clock).
const RESEND: Duration = Duration::from_secs(10);

pub struct Feed {
    sources: Arc<Sources>,
    tx: watch::Sender<Arc<str>>,
    streams: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    /// The newest snapshot built, and when.
    latest: Mutex<Option<(Instant, Arc<str>)>>,
    /// Cancelled when the feed stops: open streams end, so a dashboard left
    /// open in a browser never holds up the listener's graceful shutdown.
    closed: CancellationToken,
}

impl Feed {
    pub fn new(sources: Sources) -> Feed {
        Feed {
            sources: Arc::new(sources),
            tx: watch::Sender::new(Arc::from("")),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            reads: Arc::new(Semaphore::new(MAX_READS)),
            latest: Mutex::new(None),
            closed: CancellationToken::new(),
        }
    }

    /// Runs `f` on the blocking pool, at most [`MAX_READS`] at once.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Sources) -> Result<T, DashboardError> + Send + 'static,
    ) -> Result<T, DashboardError> {
        let busy = || DashboardError::Busy(format!("{MAX_READS} dashboard reads are running; try again"));
        let permit = tokio::time::timeout(READ_WAIT, self.reads.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let sources = self.sources.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&sources)
        })
        .await;
        done.map_err(|e| DashboardError::Read(e.to_string()))?
    }

    /// The snapshot as JSON: the newest if younger than a second, else a new one.
    pub async fn current(&self) -> Result<Arc<str>, DashboardError> {
        if let Some((at, json)) = self.latest.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < EVERY
        {
            return Ok(json.clone());
        }
        Ok(self.build().await?.1)
    }

    /// A new snapshot, and its JSON kept as the newest.
    async fn build(&self) -> Result<(Snapshot, Arc<str>), DashboardError> {
        let snap = self.read(|s| Ok(s.snapshot(now_ms()))).await?;
        let json: Arc<str> = Arc::from(encode(&snap));
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), json.clone()));
        Ok((snap, json))
    }

    /// A place among the open streams, the channel to read, and its end; None at the bound.
    pub fn subscribe(&self) -> Option<Subscription> {
        let permit = self.streams.clone().try_acquire_owned().ok()?;
        let ends = tokio::time::Instant::now() + STREAM_LIFETIME;
        Some(Subscription { _place: permit, rx: self.tx.subscribe(), closed: self.closed.clone(), ends })
    }

    /// Rebuilds while anyone watches, until `stop`; then ends every open stream.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut last = (String::new(), Instant::now());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.cancelled() => {
                    self.closed.cancel();
                    return;
                }
            }
            if self.tx.receiver_count() == 0 {
                continue;
            }
            let Ok((snap, json)) = self.build().await else { continue };
            // Unchanged but for the clock: not sent again, unless RESEND passed.
            let content = encode(&Snapshot { now_ms: 0, ..snap });
            if content == last.0 && last.1.elapsed() < RESEND {
                continue;
            }
            last = (content, Instant::now());
            self.tx.send_replace(json);
        }
    }
}

/// One open stream's place, its snapshots, and its end.
pub struct Subscription {
    _place: OwnedSemaphorePermit,
    rx: watch::Receiver<Arc<str>>,
    closed: CancellationToken,
    ends: tokio::time::Instant,
}

impl Subscription {
    /// The next snapshot; None once the feed stops or the stream's lifetime is over.
    pub async fn next(&mut self) -> Option<Arc<str>> {
        tokio::select! {
            changed = self.rx.changed() => changed.ok()?,
            _ = self.closed.cancelled() => return None,
            _ = tokio::time::sleep_until(self.ends) => return None,
        }
        Some(self.rx.borrow_and_update().clone())
    }
}

fn encode(s: &Snapshot) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "{}".into())
}
