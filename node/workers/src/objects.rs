//! Proving inputs and proofs in a JetStream object store, named by their
//! blake3 digest (hex) and checked against it on every read. The bucket keeps
//! objects for an hour and at most 8 GiB, so it cannot fill the server.

use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectStore};
use slotproof_queue::NatsTarget;
use tokio::io::AsyncReadExt;

use crate::error::WorkerError;

/// Objects older than this are dropped by the server.
pub const OBJECT_MAX_AGE: Duration = Duration::from_secs(3600);
/// The bucket's size bound.
pub const BUCKET_MAX_BYTES: i64 = 8 << 30;
/// The largest object read back: the queue's blob limit.
pub const MAX_OBJECT_BYTES: u64 = slotproof_queue::MAX_BLOB_BYTES;

pub fn bucket_name(target: &NatsTarget) -> String {
    format!("{}-blobs", target.prefix)
}

/// The bucket, created when missing.
pub async fn bucket(js: &jetstream::Context, target: &NatsTarget) -> Result<ObjectStore, WorkerError> {
    let name = bucket_name(target);
    if let Ok(store) = js.get_object_store(&name).await {
        return Ok(store);
    }
    js.create_object_store(jetstream::object_store::Config {
        bucket: name.clone(),
        description: Some("slotproof proving inputs and proofs, by blake3 digest".into()),
        max_age: OBJECT_MAX_AGE,
        max_bytes: BUCKET_MAX_BYTES,
        num_replicas: target.replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| WorkerError::Objects { bucket: name, reason: e.to_string() })
}

pub fn digest_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Stores `bytes` under their digest unless an object of that name is there; returns the name.
pub async fn put(store: &ObjectStore, bytes: &[u8]) -> Result<String, WorkerError> {
    let name = digest_hex(bytes);
    if store.info(&name).await.is_ok_and(|i| !i.deleted && i.size == bytes.len()) {
        return Ok(name);
    }
    let mut reader = bytes;
    store
        .put(name.as_str(), &mut reader)
        .await
        .map_err(|e| WorkerError::Objects { bucket: "blobs".into(), reason: format!("put {name}: {e}") })?;
    Ok(name)
}

/// Reads the object `name` (a digest), bounded, and checks it hashes to its name.
pub async fn get(store: &ObjectStore, name: &str) -> Result<Vec<u8>, WorkerError> {
    let object = store
        .get(name)
        .await
        .map_err(|e| WorkerError::Objects { bucket: "blobs".into(), reason: format!("get {name}: {e}") })?;
    let mut bytes = Vec::new();
    object
        .take(MAX_OBJECT_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| WorkerError::Objects { bucket: "blobs".into(), reason: format!("read {name}: {e}") })?;
    if bytes.len() as u64 > MAX_OBJECT_BYTES {
        return Err(WorkerError::ObjectTooLarge {
            name: name.into(),
            size: bytes.len() as u64,
            limit: MAX_OBJECT_BYTES,
        });
    }
    if digest_hex(&bytes) != name {
        return Err(WorkerError::ObjectMismatch { name: name.into() });
    }
    Ok(bytes)
}
