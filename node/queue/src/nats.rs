//! The NATS JetStream backend (specs/queue.md §15): the queue's changes are an
//! append-only log in one JetStream stream, written by the one process that
//! owns the queue, and read back in order to rebuild the state at open.
//!
//! The state machine is the same as the other backends' (`state.rs`), so
//! ordering, leases, retries, dead letters and dedupe behave identically;
//! JetStream provides the durable, replicated storage. Each group commit is
//! one log entry (split into parts only past the server's message size), and
//! each append names the sequence it expects to follow: a second process that
//! opened the same queue fences the first, whose next write fails instead of
//! interleaving. A snapshot of the whole image is appended now and then and
//! everything before it purged, so the log stays proportional to live work.
//! It never holds a lock while waiting on the network.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, stream::StorageType};
use futures_util::StreamExt;
use slotproof_primitives::wire::{Reader, Writer};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::codec;
use crate::config::QueueConfig;
use crate::error::{QueueError, Result};
use crate::rocks::{self, KeyValue};
use crate::state::{Cf, Changes, META_EPOCH, META_SCHEMA, Op, State};
use crate::store::Store;
use crate::view::QueueView;

/// The header that names a log entry's kind and part: `log 1/1`, `snap 2/3`.
const PART_HEADER: &str = "Slotproof-Part";
/// Room left for headers under the server's message size.
const HEADER_ROOM: usize = 4096;
/// Room in a message for a task record's fields besides its payload (names,
/// target, last error, op framing).
const RECORD_ROOM: usize = 16 << 10;
/// By default a snapshot is taken once this much log was written since the
/// last one and the log is at least twice the image (so snapshots never
/// dominate writes).
pub const SNAPSHOT_AFTER_BYTES: u64 = 64 << 20;
/// How long a closing store keeps retrying a write the server does not take.
const CLOSE_GIVE_UP: Duration = Duration::from_secs(10);
/// How long an open waits for the log to be read back, per entry.
const REPLAY_ENTRY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a process proves who it is to the NATS server. Secrets never appear in
/// `Debug` output or logs.
#[derive(Clone, Default)]
pub enum NatsAuth {
    #[default]
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
    /// An NKey seed (`SU...`).
    NKey(String),
    /// A `.creds` file (JWT and NKey seed).
    CredsFile(PathBuf),
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NatsAuth::None => "none",
            NatsAuth::Token(_) => "token (hidden)",
            NatsAuth::UserPassword { .. } => "user and password (hidden)",
            NatsAuth::NKey(_) => "nkey seed (hidden)",
            NatsAuth::CredsFile(_) => "creds file",
        })
    }
}

/// Where credentials may come from: files named in the config (or flags),
/// else the `SLOTPROOF_NATS_*` environment. At most one method may be given.
#[derive(Clone, Debug, Default)]
pub struct AuthSources {
    /// A `.creds` file (JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// A file whose first line is an NKey seed.
    pub nkey_file: Option<PathBuf>,
    /// A file whose first line is the token.
    pub token_file: Option<PathBuf>,
    pub user: Option<String>,
    /// A file whose first line is the user's password.
    pub password_file: Option<PathBuf>,
}

fn first_line(path: &std::path::Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| QueueError::NatsConfig(format!("reading the NATS {what} file {}: {e}", path.display())))?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(QueueError::NatsConfig(format!("the NATS {what} file {} is empty", path.display())));
    }
    Ok(line)
}

impl AuthSources {
    /// Resolves the sources, reading `env` for what the files leave unset
    /// (`SLOTPROOF_NATS_CREDS`, `_NKEY`, `_TOKEN`, `_USER`, `_PASSWORD`).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<NatsAuth> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let creds = self.creds_file.clone().or_else(|| env("SLOTPROOF_NATS_CREDS").map(PathBuf::from));
        let nkey = match &self.nkey_file {
            Some(p) => Some(first_line(p, "nkey seed")?),
            None => env("SLOTPROOF_NATS_NKEY"),
        };
        let token = match &self.token_file {
            Some(p) => Some(first_line(p, "token")?),
            None => env("SLOTPROOF_NATS_TOKEN"),
        };
        let user = self.user.clone().or_else(|| env("SLOTPROOF_NATS_USER"));
        let password = match &self.password_file {
            Some(p) => Some(first_line(p, "password")?),
            None => env("SLOTPROOF_NATS_PASSWORD"),
        };
        let given = [creds.is_some(), nkey.is_some(), token.is_some(), user.is_some()].iter().filter(|g| **g).count();
        if given > 1 {
            return Err(QueueError::NatsConfig(
                "more than one NATS credential given (creds file, nkey, token, user): keep one".into(),
            ));
        }
        Ok(match (creds, nkey, token, user, password) {
            (Some(c), ..) => NatsAuth::CredsFile(c),
            (_, Some(seed), ..) => NatsAuth::NKey(seed),
            (_, _, Some(t), ..) => NatsAuth::Token(t),
            (_, _, _, Some(user), Some(password)) => NatsAuth::UserPassword { user, password },
            (_, _, _, Some(_), None) => {
                return Err(QueueError::NatsConfig(
                    "a NATS user needs a password (password_file or SLOTPROOF_NATS_PASSWORD)".into(),
                ));
            }
            _ => NatsAuth::None,
        })
    }
}

/// Where a queue lives on NATS.
#[derive(Clone, Debug)]
pub struct NatsTarget {
    /// `nats://host:port`, or several separated by commas.
    pub url: String,
    /// Names the stream (`<prefix>-queue`), subjects (`<prefix>.…`) and
    /// buckets, so several queues can share a server.
    pub prefix: String,
    /// JetStream replicas of the stream (1 on a single server; up to 5).
    pub replicas: usize,
    pub auth: NatsAuth,
    pub connect_timeout: Duration,
    /// Log bytes after which a snapshot replaces the log (when the log is also
    /// at least twice the image).
    pub snapshot_after_bytes: u64,
}

impl NatsTarget {
    pub fn new(url: impl Into<String>) -> Self {
        NatsTarget {
            url: url.into(),
            prefix: DEFAULT_PREFIX.into(),
            replicas: 1,
            auth: NatsAuth::None,
            connect_timeout: Duration::from_secs(5),
            snapshot_after_bytes: SNAPSHOT_AFTER_BYTES,
        }
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The URL with any user:password part hidden, for logs and errors.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }

    pub fn stream_name(&self) -> String {
        format!("{}-queue", self.prefix)
    }

    pub fn log_subject(&self) -> String {
        format!("{}.queue.log", self.prefix)
    }

    /// A subject under this queue's prefix.
    pub fn subject(&self, tail: &str) -> String {
        format!("{}.{tail}", self.prefix)
    }

    fn label(&self) -> PathBuf {
        PathBuf::from(format!("{}#{}", self.shown_url(), self.prefix))
    }

    fn validate(&self) -> Result<()> {
        let ok = !self.prefix.is_empty()
            && self.prefix.len() <= 32
            && self.prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(QueueError::NatsConfig(format!(
                "prefix {:?}: use 1-32 characters of [A-Za-z0-9_-]",
                self.prefix
            )));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(QueueError::NatsConfig(format!("replicas {}: JetStream allows 1 to 5", self.replicas)));
        }
        Ok(())
    }
}

pub const DEFAULT_PREFIX: &str = "slotproof";

/// `nats://user:secret@host:4222` → `nats://***@host:4222`, per URL of a list.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &one[..s + 3], &one[at..]),
            (None, Some(at)) => format!("***{}", &one[at..]),
            _ => one.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Connects to the server, reconnecting forever after the first success.
pub async fn connect(target: &NatsTarget, name: &str) -> Result<async_nats::Client> {
    target.validate()?;
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(target.connect_timeout)
        .max_reconnects(None)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => {
                    warn!(target: "slotproof::queue", "NATS connection lost; reconnecting")
                }
                async_nats::Event::Connected => info!(target: "slotproof::queue", "NATS connection (re)established"),
                other => tracing::debug!(target: "slotproof::queue", event = %other, "NATS event"),
            }
        });
    opts = match &target.auth {
        NatsAuth::None => opts,
        NatsAuth::Token(t) => opts.token(t.clone()),
        NatsAuth::UserPassword { user, password } => opts.user_and_password(user.clone(), password.clone()),
        NatsAuth::NKey(seed) => opts.nkey(seed.clone()),
        NatsAuth::CredsFile(path) => opts.credentials_file(path).await.map_err(|e| {
            QueueError::NatsConfig(format!("reading the NATS credentials file {}: {e}", path.display()))
        })?,
    };
    let url = target.url.trim_start_matches("nats://").to_string();
    let addrs: Vec<String> = url.split(',').map(|u| format!("nats://{}", u.trim_start_matches("nats://"))).collect();
    opts.connect(addrs.as_slice())
        .await
        .map_err(|e| QueueError::NatsUnreachable { url: target.shown_url(), reason: e.to_string() })
}

/// Gets the queue's stream, creating it when missing. Refuses a stream of the
/// same name that holds other subjects (someone else's).
async fn log_stream(js: &jetstream::Context, target: &NatsTarget) -> Result<jetstream::stream::Stream> {
    let config = jetstream::stream::Config {
        name: target.stream_name(),
        subjects: vec![target.log_subject()],
        storage: StorageType::File,
        num_replicas: target.replicas,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        ..Default::default()
    };
    let stream = js.get_or_create_stream(config).await.map_err(|e| jetstream_error(target, &e.to_string()))?;
    let subjects = &stream.cached_info().config.subjects;
    if subjects != &[target.log_subject()] {
        return Err(QueueError::NatsConfig(format!(
            "stream {} exists with subjects {subjects:?}, not [{}]: another program's stream; choose another prefix",
            target.stream_name(),
            target.log_subject()
        )));
    }
    Ok(stream)
}

fn jetstream_error(target: &NatsTarget, reason: &str) -> QueueError {
    let disabled = ["no responders", "not enabled", "unavailable"].iter().any(|w| reason.contains(w));
    QueueError::NatsJetStream {
        url: target.shown_url(),
        hint: if disabled { ": is JetStream enabled (nats-server -js)?" } else { "" },
        reason: reason.to_string(),
    }
}

/// One entry's kind: an increment, or a whole image that replaces all before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Log,
    Snapshot,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Log => "log",
            Kind::Snapshot => "snap",
        }
    }
}

fn cf_byte(c: Cf) -> u8 {
    Cf::ALL.iter().position(|x| *x == c).unwrap_or(0) as u8
}

fn cf_of(b: u8) -> Option<Cf> {
    Cf::ALL.get(b as usize).copied()
}

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

fn encode_op(w: &mut Writer, op: &Op) {
    match op {
        Op::Put(c, k, v) => {
            w.u8(OP_PUT);
            w.u8(cf_byte(*c));
            w.bytes(k);
            w.bytes(v);
        }
        Op::Delete(c, k) => {
            w.u8(OP_DELETE);
            w.u8(cf_byte(*c));
            w.bytes(k);
        }
    }
}

fn op_len(op: &Op) -> usize {
    match op {
        Op::Put(_, k, v) => 10 + k.len() + v.len(),
        Op::Delete(_, k) => 6 + k.len(),
    }
}

/// Splits ops into message bodies of at most `limit` bytes each (an op is never split).
fn encode_parts(ops: &[Op], limit: usize) -> Result<Vec<Vec<u8>>> {
    let mut parts = Vec::new();
    let mut w = Writer::with_capacity(ops.iter().map(op_len).sum::<usize>().min(limit));
    let mut size = 0;
    for op in ops {
        let n = op_len(op);
        if n > limit {
            return Err(QueueError::NatsConfig(format!(
                "a queue record of {n} bytes does not fit the server's message size ({limit} usable); raise max_payload"
            )));
        }
        if size + n > limit {
            parts.push(std::mem::replace(&mut w, Writer::with_capacity(limit)).finish());
            size = 0;
        }
        encode_op(&mut w, op);
        size += n;
    }
    if size > 0 || parts.is_empty() {
        parts.push(w.finish());
    }
    Ok(parts)
}

fn decode_ops(body: &[u8]) -> std::result::Result<Vec<Op>, String> {
    let mut r = Reader::new(body);
    let mut ops = Vec::new();
    while !r.is_empty() {
        let kind = r.u8().map_err(|e| e.to_string())?;
        let c = cf_of(r.u8().map_err(|e| e.to_string())?).ok_or("unknown column family")?;
        let k = r.bytes().map_err(|e| e.to_string())?.to_vec();
        ops.push(match kind {
            OP_PUT => Op::Put(c, k, r.bytes().map_err(|e| e.to_string())?.to_vec()),
            OP_DELETE => Op::Delete(c, k),
            other => return Err(format!("unknown op {other}")),
        });
    }
    Ok(ops)
}

fn parse_part(h: &str) -> Option<(Kind, u32, u32)> {
    let (word, frac) = h.split_once(' ')?;
    let kind = match word {
        "log" => Kind::Log,
        "snap" => Kind::Snapshot,
        _ => return None,
    };
    let (i, n) = frac.split_once('/')?;
    let (i, n) = (i.parse().ok()?, n.parse().ok()?);
    (1..=n).contains(&i).then_some((kind, i, n))
}

/// The stored records, as the column families would hold them.
#[derive(Default)]
struct Image {
    map: BTreeMap<(u8, Vec<u8>), Vec<u8>>,
    bytes: u64,
}

impl Image {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put(c, k, v) => {
                self.bytes += (k.len() + v.len()) as u64;
                if let Some(old) = self.map.insert((cf_byte(*c), k.clone()), v.clone()) {
                    self.bytes -= (k.len() + old.len()) as u64;
                }
            }
            Op::Delete(c, k) => {
                if let Some(old) = self.map.remove(&(cf_byte(*c), k.clone())) {
                    self.bytes -= (k.len() + old.len()) as u64;
                }
            }
        }
    }

    fn scan(&self, c: Cf) -> Vec<KeyValue> {
        let b = cf_byte(c);
        self.map
            .range((b, Vec::new())..(b + 1, Vec::new()))
            .map(|((_, k), v)| (k.clone().into_boxed_slice(), v.clone().into_boxed_slice()))
            .collect()
    }

    fn get(&self, c: Cf, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(&(cf_byte(c), key.to_vec()))
    }

    fn ops(&self) -> Vec<Op> {
        self.map.iter().filter_map(|((c, k), v)| Some(Op::Put(cf_of(*c)?, k.clone(), v.clone()))).collect()
    }
}

/// What reading the log back found.
struct Replayed {
    image: Image,
    last_seq: u64,
    /// Log bytes after the newest snapshot.
    since_snapshot: u64,
}

/// Reads every entry of the log in order and applies complete ones; a partial
/// entry (a writer that died between parts) is dropped, as its writer never
/// saw it acknowledged.
async fn replay(target: &NatsTarget, stream: &mut jetstream::stream::Stream) -> Result<Replayed> {
    let label = target.label();
    let last_seq = stream.info().await.map_err(|e| jetstream_error(target, &e.to_string()))?.state.last_sequence;
    let messages_in = stream.cached_info().state.messages;
    let mut out = Replayed { image: Image::default(), last_seq, since_snapshot: 0 };
    if messages_in == 0 {
        return Ok(out);
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| jetstream_error(target, &e.to_string()))?;
    let mut messages = consumer.messages().await.map_err(|e| jetstream_error(target, &e.to_string()))?;
    let mut group: Option<(Kind, u32, u32, Vec<Op>, u64)> = None;
    loop {
        let next = tokio::time::timeout(REPLAY_ENTRY_TIMEOUT, messages.next())
            .await
            .map_err(|_| jetstream_error(target, "timed out reading the queue log back"))?;
        let Some(msg) = next else { break };
        let msg = msg.map_err(|e| jetstream_error(target, &e.to_string()))?;
        let seq = msg.info().map_err(|e| jetstream_error(target, &e.to_string()))?.stream_sequence;
        let header = msg.headers.as_ref().and_then(|h| h.get(PART_HEADER)).map(|v| v.as_str().to_string());
        let Some((kind, i, n)) = header.as_deref().and_then(parse_part) else {
            return Err(rocks::corrupt(&label, format!("log entry {seq}"), "no valid Slotproof-Part header"));
        };
        let ops = decode_ops(&msg.payload).map_err(|r| rocks::corrupt(&label, format!("log entry {seq}"), r))?;
        let size = msg.payload.len() as u64;
        group = match group.take() {
            Some((k, _, gn, mut acc, bytes)) if i > 1 && k == kind && gn == n => {
                acc.extend(ops);
                Some((kind, i, n, acc, bytes + size))
            }
            _ if i == 1 => Some((kind, 1, n, ops, size)),
            // A later part without its first: the rest of a dropped entry.
            _ => None,
        };
        if group.as_ref().is_some_and(|(_, gi, gn, _, _)| gi == gn)
            && let Some((k, _, _, acc, bytes)) = group.take()
        {
            if k == Kind::Snapshot {
                out.image = Image::default();
                out.since_snapshot = 0;
            } else {
                out.since_snapshot += bytes;
            }
            for op in &acc {
                out.image.apply(op);
            }
        }
        if seq >= last_seq {
            break;
        }
    }
    Ok(out)
}

/// Opens the queue on NATS as its writer: replays the log, rebuilds the
/// state, and appends the recovery writes as the entry that fences any
/// earlier writer.
pub(crate) fn open_writer(target: &NatsTarget, cfg: QueueConfig, now_ms: u64) -> Result<(State, NatsStore)> {
    target.validate()?;
    let label = target.label();
    let shared = Arc::new(Shared::default());
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (thread_target, thread_shared) = (target.clone(), shared.clone());
    // The connection lives on a thread of its own with its own runtime, so a
    // caller inside an async runtime can open the queue and use it blocking.
    let thread = std::thread::Builder::new()
        .name("queue-nats".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(source) => {
                    let _ = opened_tx.send(Err(QueueError::Io { path: thread_target.label(), source }));
                    return;
                }
            };
            runtime.block_on(async move {
                match open_log(&thread_target, cfg, now_ms).await {
                    Ok((state, client, writer)) => {
                        let _ = opened_tx.send(Ok((state, client)));
                        writer.run(thread_shared).await;
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|source| QueueError::Io { path: label.clone(), source })?;
    let opened = opened_rx.recv().unwrap_or_else(|_| Err(QueueError::LockPoisoned("NATS queue thread")));
    match opened {
        Ok((state, client)) => Ok((state, NatsStore { shared, thread: Mutex::new(Some(thread)), _client: client })),
        Err(e) => {
            let _ = thread.join();
            Err(e)
        }
    }
}

/// Replays the log, rebuilds the state and appends the recovery entry.
async fn open_log(
    target: &NatsTarget,
    cfg: QueueConfig,
    now_ms: u64,
) -> Result<(State, async_nats::Client, LogWriter)> {
    let label = target.label();
    let client = connect(target, "slotproof-queue").await?;
    let js = jetstream::new(client.clone());
    let mut stream = log_stream(&js, target).await?;
    let mut replayed = replay(target, &mut stream).await?;

    let created = replayed.image.map.is_empty();
    let mut first = Vec::new();
    if created {
        first.push(Op::Put(Cf::Meta, META_SCHEMA.to_vec(), rocks::SCHEMA_VERSION.to_be_bytes().to_vec()));
        info!(target: "slotproof::queue", queue = %label.display(), "created queue stream");
    } else {
        match replayed.image.get(Cf::Meta, META_SCHEMA).map(|v| <[u8; 4]>::try_from(v.as_slice())) {
            Some(Ok(v)) if u32::from_be_bytes(v) == rocks::SCHEMA_VERSION => {}
            Some(Ok(v)) => {
                return Err(QueueError::SchemaMismatch {
                    path: label,
                    found: u32::from_be_bytes(v),
                    supported: rocks::SCHEMA_VERSION,
                });
            }
            _ => return Err(QueueError::Foreign { path: label, reason: "no schema_version record".into() }),
        }
    }
    let epoch = stored_epoch(&replayed.image, &label)?;
    let image = &replayed.image;
    let loaded = rocks::decode_stored(&label, epoch, &|c| Ok(image.scan(c)), true)?;
    let (mut state, recovery) = rocks::rebuild(&label, cfg, loaded, now_ms)?;
    first.extend(recovery.ops);

    let limit = client.server_info().max_payload.saturating_sub(HEADER_ROOM).max(1024);
    // A task record must fit one message: refuse bigger payloads at enqueue
    // (PayloadTooLarge) rather than fail the write and poison the queue.
    state.limit_payload(limit.saturating_sub(RECORD_ROOM));
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let mut writer = LogWriter {
        target: target.clone(),
        js,
        stream,
        limit,
        last_seq: replayed.last_seq,
        nonce,
        written_msgs: 0,
        image: std::mem::take(&mut replayed.image),
        since_snapshot: replayed.since_snapshot,
        closing_since: None,
    };
    // The first entry names the sequence it follows: an earlier writer is fenced from here on.
    writer.append(Kind::Log, &first).await?;
    Ok((state, client, writer))
}

fn stored_epoch(image: &Image, label: &std::path::Path) -> Result<u64> {
    match image.get(Cf::Meta, META_EPOCH) {
        Some(v) => codec::decode_u64(v).map_err(|r| rocks::corrupt(label, "meta/epoch", r)),
        None => Ok(0),
    }
}

/// Runs `fut` to completion on a new thread with its own runtime: for the
/// synchronous entry points, which may be called from inside a runtime.
fn on_own_thread<T: Send + 'static>(
    target: &NatsTarget,
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let label = target.label();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| QueueError::Io { path: label.clone(), source })?;
                runtime.block_on(fut)
            })
            .join()
            .unwrap_or_else(|_| Err(QueueError::LockPoisoned("NATS helper thread")))
    })
}

/// Reads the queue on NATS without writing: for `slotproof queue` commands
/// while a node owns it.
pub fn read_view(target: &NatsTarget) -> Result<QueueView> {
    let target = target.clone();
    on_own_thread(&target.clone(), async move {
        let label = target.label();
        let client = connect(&target, "slotproof-queue-view").await?;
        let js = jetstream::new(client);
        let mut stream =
            js.get_stream(target.stream_name()).await.map_err(|_| QueueError::NotFound { path: label.clone() })?;
        let replayed = replay(&target, &mut stream).await?;
        let epoch = stored_epoch(&replayed.image, &label)?;
        let loaded = rocks::decode_stored(&label, epoch, &|c| Ok(replayed.image.scan(c)), false)?;
        Ok(rocks::view_of(loaded, &label))
    })
}

/// Deletes the queue's stream: for a server being reset. Missing is fine.
pub fn delete_stream(target: &NatsTarget) -> Result<()> {
    let target = target.clone();
    on_own_thread(&target.clone(), async move {
        let client = connect(&target, "slotproof-queue-admin").await?;
        let js = jetstream::new(client);
        match js.delete_stream(target.stream_name()).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(jetstream_error(&target, &e.to_string())),
        }
    })
}

#[derive(Default)]
struct Shared {
    log: Mutex<Log>,
    written_cv: Condvar,
    wake_writer: Notify,
}

#[derive(Default)]
struct Log {
    pending: Vec<Op>,
    submitted: u64,
    written: u64,
    closing: bool,
    failed: Option<Arc<QueueError>>,
}

/// The writer thread's side: owns the connection, the image and the position.
struct LogWriter {
    target: NatsTarget,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    limit: usize,
    last_seq: u64,
    nonce: String,
    written_msgs: u64,
    image: Image,
    since_snapshot: u64,
    closing_since: Option<Instant>,
}

impl LogWriter {
    /// Group commit, pipelined: everything submitted since the last send goes
    /// out as one entry, without waiting for the acks of entries still in
    /// flight (at most `MAX_IN_FLIGHT` messages). Each message names the
    /// sequence it must follow, so the server stores them in order or not
    /// at all; acks are taken in order, and an entry counts as written once
    /// its last part is acknowledged.
    async fn run(mut self, shared: Arc<Shared>) {
        let mut flight: VecDeque<InFlight> = VecDeque::new();
        loop {
            // A snapshot waits for the window to empty; sending pauses meanwhile.
            let due = self.since_snapshot > self.target.snapshot_after_bytes.max(2 * self.image.bytes);
            let (ops, upto, closing) = match shared.log.lock() {
                Ok(mut log) => {
                    let room = flight.len() < MAX_IN_FLIGHT && !due;
                    (if room { std::mem::take(&mut log.pending) } else { Vec::new() }, log.submitted, log.closing)
                }
                Err(_) => return,
            };
            if !ops.is_empty() {
                if closing && self.closing_since.is_none() {
                    self.closing_since = Some(Instant::now());
                }
                if let Err(e) = self.send_entry(&ops, upto, &mut flight).await {
                    return fail(&shared, &self.target, e);
                }
                continue;
            }
            if flight.is_empty() {
                if due {
                    if let Err(e) = self.snapshot().await {
                        // The log is still whole; try again after as much log again.
                        warn!(target: "slotproof::queue", error = %e, "queue snapshot failed; the log keeps growing until one succeeds");
                        self.since_snapshot = 0;
                    }
                    continue;
                }
                if closing {
                    return;
                }
                shared.wake_writer.notified().await;
                continue;
            }
            let room = flight.len() < MAX_IN_FLIGHT;
            let Some(head) = flight.front_mut() else { continue };
            let acked = match head.ack.as_mut() {
                // Not sent: the connection was down; the recovery below sends it.
                None => Some(Err(None)),
                Some(ack) if room => tokio::select! {
                    biased;
                    r = ack => Some(r.map_err(Some)),
                    _ = shared.wake_writer.notified() => None,
                },
                Some(ack) => Some(ack.await.map_err(Some)),
            };
            let Some(acked) = acked else { continue };
            let Some(sent) = flight.pop_front() else { continue };
            match acked {
                Ok(ack) => {
                    self.last_seq = ack.sequence;
                    if let Some(upto) = sent.completes {
                        mark_written(&shared, upto);
                    }
                }
                // Every earlier message was acknowledged in order, so the
                // stream moved under us: another writer took over.
                Err(Some(e)) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    let fenced = QueueError::NatsFenced { queue: self.target.label(), expected: self.last_seq };
                    return fail(&shared, &self.target, fenced);
                }
                Err(e) => {
                    if let Some(e) = e {
                        warn!(target: "slotproof::queue", queue = %self.target.label().display(), error = %e, "queue write not acknowledged; sending again what is in flight");
                    }
                    // Whatever of the window the server stored is a prefix of
                    // it; sending it all again, in order and with the same
                    // message ids, stores the rest once (the ids already
                    // stored answer as duplicates with their sequence).
                    let again: Vec<InFlight> = std::iter::once(sent).chain(flight.drain(..)).collect();
                    for m in again {
                        if let Err(e) = self.publish(&m.id, &m.part, m.body).await {
                            return fail(&shared, &self.target, e);
                        }
                        if let Some(upto) = m.completes {
                            mark_written(&shared, upto);
                        }
                    }
                }
            }
        }
    }

    /// Sends one entry's parts without waiting for their acks.
    async fn send_entry(&mut self, ops: &[Op], upto: u64, flight: &mut VecDeque<InFlight>) -> Result<()> {
        let parts = encode_parts(ops, self.limit)?;
        let n = parts.len();
        for (i, body) in parts.into_iter().enumerate() {
            self.written_msgs += 1;
            let id = format!("{}-{}", self.nonce, self.written_msgs);
            let part = format!("{} {}/{n}", Kind::Log.word(), i + 1);
            let body = bytes::Bytes::from(body);
            self.since_snapshot += body.len() as u64;
            let msg = jetstream::message::PublishMessage::build()
                .payload(body.clone())
                .header(PART_HEADER, part.as_str())
                .message_id(id.as_str())
                .expected_last_sequence(self.last_seq + flight.len() as u64);
            // A send that fails leaves the message unsent; the head of the
            // window finds it so and sends everything again in order.
            let ack = if flight.iter().any(|m| m.ack.is_none()) {
                None
            } else {
                self.js.send_publish(self.target.log_subject(), msg).await.ok().map(IntoFuture::into_future)
            };
            let completes = (i + 1 == n).then_some(upto);
            flight.push_back(InFlight { id, part, body, completes, ack });
        }
        // Entries are never dropped once sent (they are sent again or the
        // queue fails), so the image may take them now.
        for op in ops {
            self.image.apply(op);
        }
        Ok(())
    }

    /// Appends one entry (in parts if it must), retrying while the server is
    /// away; fails only when fenced or when the entry can never fit.
    async fn append(&mut self, kind: Kind, ops: &[Op]) -> Result<()> {
        let parts = encode_parts(ops, self.limit)?;
        let n = parts.len();
        let mut first_seq = None;
        for (i, body) in parts.into_iter().enumerate() {
            self.written_msgs += 1;
            let id = format!("{}-{}", self.nonce, self.written_msgs);
            let header = format!("{} {}/{n}", kind.word(), i + 1);
            let size = body.len() as u64;
            let seq = self.publish(&id, &header, body.into()).await?;
            first_seq.get_or_insert(seq);
            self.since_snapshot += size;
        }
        if kind == Kind::Snapshot {
            self.since_snapshot = 0;
            if let Some(seq) = first_seq {
                // Everything before the snapshot is now redundant.
                if let Err(e) = self.stream.purge().sequence(seq).await {
                    warn!(target: "slotproof::queue", error = %e, "purging the queue log before its snapshot failed; it stays until the next snapshot");
                }
            }
        } else {
            for op in ops {
                self.image.apply(op);
            }
        }
        Ok(())
    }

    async fn snapshot(&mut self) -> Result<()> {
        let ops = self.image.ops();
        let before = self.since_snapshot;
        self.append(Kind::Snapshot, &ops).await?;
        info!(target: "slotproof::queue", log_bytes = before, image_bytes = self.image.bytes, "queue log compacted into a snapshot");
        Ok(())
    }

    /// One message: expects to follow our last one (fencing), with an id the
    /// server deduplicates, so a retry after a lost ack is not written twice.
    async fn publish(&mut self, id: &str, part: &str, body: bytes::Bytes) -> Result<u64> {
        let mut backoff = Duration::from_millis(50);
        let mut last_warn: Option<Instant> = None;
        loop {
            let msg = jetstream::message::PublishMessage::build()
                .payload(body.clone())
                .header(PART_HEADER, part)
                .message_id(id)
                .expected_last_sequence(self.last_seq);
            let outcome = match self.js.send_publish(self.target.log_subject(), msg).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(ack) => {
                    self.last_seq = ack.sequence;
                    return Ok(ack.sequence);
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    return Err(QueueError::NatsFenced { queue: self.target.label(), expected: self.last_seq });
                }
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(QueueError::NatsConfig(format!("queue log entry too large: {e}")));
                }
                Err(e) => {
                    if self.closing_since.is_some_and(|t| t.elapsed() > CLOSE_GIVE_UP) {
                        return Err(jetstream_error(&self.target, &format!("gave up writing while closing: {e}")));
                    }
                    if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                        warn!(target: "slotproof::queue", queue = %self.target.label().display(), error = %e, "queue write not acknowledged; retrying until the server is back");
                        last_warn = Some(Instant::now());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Messages the writer has in flight at once (about one round trip of work).
const MAX_IN_FLIGHT: usize = 64;

type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = std::result::Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
            > + Send,
    >,
>;

/// One message sent and not yet acknowledged, kept to send it again.
struct InFlight {
    id: String,
    part: String,
    body: bytes::Bytes,
    /// On an entry's last part: the submission ticket it completes.
    completes: Option<u64>,
    /// None when the send itself failed.
    ack: Option<AckFuture>,
}

fn mark_written(shared: &Shared, upto: u64) {
    if let Ok(mut log) = shared.log.lock() {
        log.written = log.written.max(upto);
    }
    shared.written_cv.notify_all();
}

/// Poisons the queue: every waiting and later call gets the error.
fn fail(shared: &Shared, target: &NatsTarget, e: QueueError) {
    warn!(target: "slotproof::queue", queue = %target.label().display(), error = %e, "queue write failed; the queue is poisoned");
    if let Ok(mut log) = shared.log.lock() {
        log.failed = Some(Arc::new(e));
    }
    shared.written_cv.notify_all();
}

/// The synchronous side the queue calls: submissions are queued for the writer
/// thread; waiters block until their ticket's entry is acknowledged.
pub(crate) struct NatsStore {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    _client: async_nats::Client,
}

impl NatsStore {
    fn log(&self) -> Result<std::sync::MutexGuard<'_, Log>> {
        self.shared.log.lock().map_err(|_| QueueError::LockPoisoned("NATS commit log"))
    }
}

impl Store for NatsStore {
    fn backend(&self) -> &'static str {
        "nats"
    }

    fn persists(&self) -> bool {
        true
    }

    fn healthy(&self) -> Result<()> {
        match &self.log()?.failed {
            Some(e) => Err(QueueError::WriteFailed(e.clone())),
            None => Ok(()),
        }
    }

    fn submit(&self, changes: Changes) -> Option<u64> {
        let mut log = self.shared.log.lock().ok()?;
        log.pending.extend(changes.ops);
        log.submitted += 1;
        let ticket = log.submitted;
        drop(log);
        self.shared.wake_writer.notify_one();
        Some(ticket)
    }

    fn wait(&self, ticket: u64) -> Result<()> {
        let mut log = self.log()?;
        loop {
            if let Some(e) = &log.failed {
                return Err(QueueError::WriteFailed(e.clone()));
            }
            if log.written >= ticket {
                return Ok(());
            }
            log = self.shared.written_cv.wait(log).map_err(|_| QueueError::LockPoisoned("NATS commit log"))?;
        }
    }
}

impl Drop for NatsStore {
    fn drop(&mut self) {
        if let Ok(mut log) = self.shared.log.lock() {
            log.closing = true;
        }
        self.shared.wake_writer.notify_one();
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Whether a path-like queue location names NATS (`nats://…`).
pub fn is_nats_url(s: &str) -> bool {
    s.starts_with("nats://") || s.starts_with("tls://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(redact_url("nats://alice:s3cret@10.0.0.1:4222"), "nats://***@10.0.0.1:4222");
        assert_eq!(redact_url("nats://h:4222,nats://u:p@h2:4222"), "nats://h:4222,nats://***@h2:4222");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(format!("{:?}", NatsAuth::Token("abc".into())), "token (hidden)");
    }

    #[test]
    fn credentials_come_from_one_source_files_first() {
        let dir = std::env::temp_dir().join(format!("slotproof-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let token = dir.join("token");
        std::fs::write(&token, "s3cret\n").expect("write");
        let none = |_: &str| None;
        let from_file = AuthSources { token_file: Some(token.clone()), ..Default::default() };
        assert!(matches!(from_file.resolve(&none), Ok(NatsAuth::Token(t)) if t == "s3cret"));
        let env = |k: &str| (k == "SLOTPROOF_NATS_USER").then(|| "alice".to_string());
        assert!(AuthSources::default().resolve(&env).is_err(), "a user without a password");
        let env = |k: &str| match k {
            "SLOTPROOF_NATS_USER" => Some("alice".to_string()),
            "SLOTPROOF_NATS_PASSWORD" => Some("pw".to_string()),
            _ => None,
        };
        assert!(matches!(AuthSources::default().resolve(&env), Ok(NatsAuth::UserPassword { .. })));
        assert!(from_file.resolve(&env).is_err(), "a token and a user");
        assert!(matches!(AuthSources::default().resolve(&none), Ok(NatsAuth::None)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ops_round_trip_and_split_at_the_limit() {
        let ops: Vec<Op> = (0..100u8)
            .map(|i| {
                if i % 3 == 0 {
                    Op::Delete(Cf::Leases, vec![i; 32])
                } else {
                    Op::Put(Cf::Tasks, vec![i; 32], vec![i; 100])
                }
            })
            .collect();
        let parts = encode_parts(&ops, 1000).expect("fits");
        assert!(parts.len() > 5 && parts.iter().all(|p| p.len() <= 1000), "{} parts", parts.len());
        let back: Vec<Op> = parts.iter().flat_map(|p| decode_ops(p).expect("decodes")).collect();
        assert_eq!(back.len(), ops.len());
        let mut a = Image::default();
        let mut b = Image::default();
        ops.iter().for_each(|o| a.apply(o));
        back.iter().for_each(|o| b.apply(o));
        assert_eq!(a.map, b.map);
        assert!(encode_parts(&[Op::Put(Cf::Tasks, vec![0; 10], vec![0; 2000])], 1000).is_err());
    }

    #[test]
    fn part_headers_parse_strictly() {
        assert_eq!(parse_part("log 1/1"), Some((Kind::Log, 1, 1)));
        assert_eq!(parse_part("snap 2/3"), Some((Kind::Snapshot, 2, 3)));
        for bad in ["log 0/1", "log 2/1", "x 1/1", "log 1", ""] {
            assert_eq!(parse_part(bad), None, "{bad}");
        }
    }
}
