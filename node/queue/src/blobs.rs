//! Payloads too large to travel inside a task (a proof up to EIP-8025's
//! 4 MiB and more), kept beside the queue as files named by their content
//! digest: `<dir>/<64 hex digits>` (specs/queue.md §14). A task carries the
//! 32-byte digest instead of the bytes, so no payload cap limits a proof.
//!
//! It owns writing (temp file, fsync, rename: a crash leaves the whole file or
//! none), reading back with the digest checked (a flipped bit is an error,
//! never a panic or a wrong proof), and deleting what its caller says nothing
//! refers to. It never decides what is referenced: the node marks the live
//! digests and calls [`BlobStore::sweep`].

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use slotproof_primitives::hex;

use crate::error::BlobError;

/// The largest blob stored or read: four times EIP-8025's 4 MiB proof bound,
/// so a hostile or broken file cannot make a read allocate without limit.
pub const MAX_BLOB_BYTES: u64 = 16 << 20;

/// The blake3 digest of a blob's bytes: its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobDigest(pub [u8; 32]);

impl BlobDigest {
    pub fn of(bytes: &[u8]) -> BlobDigest {
        BlobDigest(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobDigest({self})")
    }
}

impl FromStr for BlobDigest {
    type Err = BlobError;

    fn from_str(s: &str) -> Result<Self, BlobError> {
        let bytes = hex::decode(s).map_err(|_| BlobError::BadDigest(s.chars().take(80).collect()))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(BlobDigest)
            .map_err(|_| BlobError::BadDigest(s.chars().take(80).collect()))
    }
}

pub struct BlobStore {
    dir: PathBuf,
    /// Makes temp names unique among concurrent writers of this process.
    tmp_counter: AtomicU64,
}

impl BlobStore {
    /// Opens (creating) the store; temp files a crash left behind are removed.
    pub fn open(dir: &Path) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(dir).map_err(|source| BlobError::Io { path: dir.to_path_buf(), source })?;
        let store = BlobStore { dir: dir.to_path_buf(), tmp_counter: AtomicU64::new(0) };
        for entry in store.entries()? {
            if entry.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(&entry);
            }
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, d: &BlobDigest) -> PathBuf {
        self.dir.join(d.to_string())
    }

    fn entries(&self) -> Result<Vec<PathBuf>, BlobError> {
        let io = |source| BlobError::Io { path: self.dir.clone(), source };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            out.push(entry.map_err(io)?.path());
        }
        Ok(out)
    }

    /// Stores `bytes` (once: a blob already there is kept) and returns its digest.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobDigest, BlobError> {
        if bytes.len() as u64 > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge { size: bytes.len() as u64, limit: MAX_BLOB_BYTES });
        }
        let digest = BlobDigest::of(bytes);
        let path = self.path(&digest);
        if path.exists() {
            // Stored again means referenced again: a fresh time keeps a sweep
            // that marked before this reference from deleting it (the grace).
            let touched =
                std::fs::File::options().append(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
            touched.map_err(|source| BlobError::Io { path: path.clone(), source })?;
            return Ok(digest);
        }
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!("{digest}.{}.{n}.tmp", std::process::id()));
        let io = |source| BlobError::Io { path: tmp.clone(), source };
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|source| BlobError::Io { path: path.clone(), source })?;
        // The rename itself must survive a power cut too.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(digest)
    }

    /// The blob's bytes, checked against its digest.
    pub fn get(&self, digest: &BlobDigest) -> Result<Vec<u8>, BlobError> {
        let path = self.path(digest);
        let io = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BlobError::Missing { digest: digest.to_string(), path: path.clone() }
            } else {
                BlobError::Io { path: path.clone(), source }
            }
        };
        let len = std::fs::metadata(&path).map_err(io)?.len();
        if len > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge { size: len, limit: MAX_BLOB_BYTES });
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        if BlobDigest::of(&bytes) != *digest {
            return Err(BlobError::Mismatch { digest: digest.to_string(), path });
        }
        Ok(bytes)
    }

    pub fn contains(&self, digest: &BlobDigest) -> bool {
        self.path(digest).exists()
    }

    /// How many blobs are stored.
    pub fn len(&self) -> Result<usize, BlobError> {
        Ok(self.entries()?.iter().filter(|p| digest_of_path(p).is_some()).count())
    }

    pub fn is_empty(&self) -> Result<bool, BlobError> {
        self.len().map(|n| n == 0)
    }

    /// Deletes at most `max` blobs that are not in `live` and were written at
    /// least `grace` ago (a blob is written before the task that refers to it,
    /// so a young one may be about to be referenced). Returns how many went.
    pub fn sweep(&self, live: &HashSet<BlobDigest>, grace: Duration, max: usize) -> Result<usize, BlobError> {
        let now = SystemTime::now();
        let mut removed = 0;
        for path in self.entries()? {
            if removed == max {
                break;
            }
            let Some(digest) = digest_of_path(&path) else { continue };
            if live.contains(&digest) {
                continue;
            }
            let age = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or(Duration::ZERO);
            if age >= grace {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(BlobError::Io { path, source }),
                }
            }
        }
        Ok(removed)
    }
}

/// The digest a blob file is named by; None for anything else in the directory.
fn digest_of_path(path: &Path) -> Option<BlobDigest> {
    path.file_name()?.to_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_once_and_a_changed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join("proofs")).unwrap();
        let bytes = vec![7u8; 4 << 20];
        let d = store.put(&bytes).unwrap();
        assert_eq!(store.put(&bytes).unwrap(), d, "the same bytes, the same blob");
        assert_eq!(store.get(&d).unwrap(), bytes);
        assert_eq!(store.len().unwrap(), 1);
        let path = dir.path().join("proofs").join(d.to_string());
        let mut changed = bytes.clone();
        changed[12345] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert!(matches!(store.get(&d), Err(BlobError::Mismatch { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(store.get(&d), Err(BlobError::Missing { .. })));
        assert!(matches!(store.put(&vec![0; MAX_BLOB_BYTES as usize + 1]), Err(BlobError::TooLarge { .. })));
        assert!("not-hex".parse::<BlobDigest>().is_err());
        assert_eq!(d.to_string().parse::<BlobDigest>().unwrap(), d);
    }

    #[test]
    fn sweep_keeps_live_and_young_blobs_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let ds: Vec<BlobDigest> = (0..4u8).map(|i| store.put(&[i]).unwrap()).collect();
        std::fs::write(dir.path().join("stray.tmp"), b"x").unwrap();
        let live = HashSet::from([ds[0]]);
        assert_eq!(store.sweep(&live, Duration::from_secs(3600), 10).unwrap(), 0, "all young");
        assert_eq!(store.sweep(&live, Duration::ZERO, 2).unwrap(), 2, "at most two per step");
        assert_eq!(store.sweep(&live, Duration::ZERO, 10).unwrap(), 1);
        assert!(store.contains(&ds[0]) && store.len().unwrap() == 1);
        drop(store);
        BlobStore::open(dir.path()).unwrap();
        assert!(!dir.path().join("stray.tmp").exists(), "a crash's temp file is removed at open");
    }
}
