//! One-time rewrite of a results database written before block hashes were
//! stored raw: keys that carried the hash as `0x…` text get the 32 raw bytes
//! instead, in one atomic batch, so an upgraded node keeps its records and
//! signed proofs. Idempotent: a database with no old keys is left untouched.

use rocksdb::{DB, IteratorMode, WriteBatch};
use slotproof_primitives::Hash32;

/// Written once the upgrades have run (`ResultStore::open`): a later open
/// skips them, instead of walking every key (signed proofs included: a week
/// of them on a network is gigabytes) at each start.
pub(crate) const UPGRADED: &[u8] = b"meta/upgraded-v2";

/// `0x` + 64 hex digits.
const OLD_HASH_LEN: usize = 66;

/// The raw form of an old text hash at the start of `text`, and what follows it.
fn split_old_hash(text: &[u8]) -> Option<(Hash32, &[u8])> {
    let hash = std::str::from_utf8(text.get(..OLD_HASH_LEN)?).ok()?;
    if !hash.starts_with("0x") {
        return None;
    }
    Some((hash.parse().ok()?, &text[OLD_HASH_LEN..]))
}

/// `r/0x…/zkvm/node` → `r/<raw>/zkvm/node`.
fn new_root_key(old: &[u8]) -> Option<Vec<u8>> {
    let (hash, rest) = split_old_hash(old.strip_prefix(b"r/")?)?;
    if !rest.starts_with(b"/") {
        return None;
    }
    Some([&b"r/"[..], hash.as_bytes(), rest].concat())
}

/// The new key for an old one, or None when the key is already new.
fn migrated(k: &[u8]) -> Option<Vec<u8>> {
    match k.get(..2)? {
        b"b/" if k.len() == 10 + OLD_HASH_LEN => {
            let (hash, rest) = split_old_hash(&k[10..])?;
            rest.is_empty().then(|| [&k[..10], hash.as_bytes()].concat())
        }
        b"n/" if k.len() > 10 => Some([&k[..10], &new_root_key(&k[10..])?[..]].concat()),
        b"r/" => new_root_key(k),
        _ => None,
    }
}

pub(crate) fn to_raw_hash_keys(db: &DB) -> Result<usize, rocksdb::Error> {
    let mut batch = WriteBatch::default();
    let mut moved = 0;
    for item in db.iterator(IteratorMode::Start) {
        let (k, v) = item?;
        if let Some(new) = migrated(&k) {
            batch.delete(&k);
            batch.put(new, v);
            moved += 1;
        }
    }
    if moved > 0 {
        db.write(batch)?;
        tracing::info!(target: "slotproof::node", keys = moved, "results database: hashes in keys rewritten as raw bytes");
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BlockRecord, ResultStore};

    #[test]
    fn an_old_database_keeps_its_records_and_proofs_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let hash: Hash32 = format!("0x{:064x}", 7).parse().unwrap();
        let text = hash.to_string();
        {
            let db = DB::open_default(dir.path().join("results")).unwrap();
            let record = BlockRecord { block_number: 7, block_hash: hash, ..Default::default() };
            let mut k = b"b/".to_vec();
            k.extend_from_slice(&7u64.to_be_bytes());
            k.extend_from_slice(text.as_bytes());
            db.put(k, serde_json::to_vec(&record).unwrap()).unwrap();
            let root = format!("r/{text}/stark/nodea");
            let mut n = b"n/".to_vec();
            n.extend_from_slice(&7u64.to_be_bytes());
            n.extend_from_slice(root.as_bytes());
            db.put(root.as_bytes(), b"signed").unwrap();
            db.put(n, b"").unwrap();
        }
        let store = ResultStore::open(dir.path()).unwrap();
        assert_eq!(store.get(7, &hash).unwrap().map(|r| r.block_number), Some(7));
        assert_eq!(store.signed_by_root(&hash, "stark", usize::MAX).unwrap(), vec![b"signed".to_vec()]);
        assert_eq!(store.signed_by_range(7, 1, &["stark".into()], usize::MAX).unwrap().len(), 1);
        drop(store);
        // A second open finds nothing to move, and is marked so it does not look again.
        let db = DB::open_default(dir.path().join("results")).unwrap();
        assert_eq!(to_raw_hash_keys(&db).unwrap(), 0);
        assert!(db.get(UPGRADED).unwrap().is_some());
    }

    /// Once marked, an open walks no key: an old-form key written after the
    /// upgrade (none ever is) stays where it is.
    #[test]
    fn an_upgraded_database_is_not_walked_again() {
        let dir = tempfile::tempdir().unwrap();
        drop(ResultStore::open(dir.path()).unwrap());
        let old = format!("r/0x{:064x}/stark/nodea", 9);
        {
            let db = DB::open_default(dir.path().join("results")).unwrap();
            db.put(old.as_bytes(), b"signed").unwrap();
        }
        drop(ResultStore::open(dir.path()).unwrap());
        let db = DB::open_default(dir.path().join("results")).unwrap();
        assert_eq!(db.get(old.as_bytes()).unwrap().as_deref(), Some(&b"signed"[..]), "not walked");
    }
}
