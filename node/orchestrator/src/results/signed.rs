//! Signed proofs (own and received) as served to peers (specs/p2p.md §6):
//! keyed so no zkVM name or node id can collide with or shadow another key
//! (the zkVM name is length-prefixed, and names pass the names rule before
//! they get here), at most `MAX_PER_ZKVM` per (block, zkVM), read back under a
//! byte cap. Also the one-time move of keys written before this layout.

use rocksdb::{DB, Direction, IteratorMode, WriteBatch};
use slotproof_primitives::{Hash32, names};

/// Signed proofs kept per (block, zkVM): the replicas that prove it, and a
/// few more; a peer's proof past this is not stored (specs/p2p.md §6).
pub const MAX_PER_ZKVM: usize = 4;

/// `s/`, the raw block hash, the zkVM name's length (one byte), the name: the
/// prefix of every signed proof of (block, zkVM); the node id follows.
pub(crate) fn zkvm_prefix(hash: &Hash32, zkvm: &str) -> Vec<u8> {
    let len = u8::try_from(zkvm.len()).unwrap_or(u8::MAX);
    let mut k = Vec::with_capacity(35 + zkvm.len());
    k.extend_from_slice(b"s/");
    k.extend_from_slice(hash.as_bytes());
    k.push(len);
    k.extend_from_slice(&zkvm.as_bytes()[..usize::from(len)]);
    k
}

/// The zkVM named in a signed-proof key (`s/…`).
pub(crate) fn zkvm_of(key: &[u8]) -> Option<&str> {
    let len = usize::from(*key.get(34)?);
    std::str::from_utf8(key.get(35..35 + len)?).ok()
}

/// `m/`, the block number (big-endian), then the signed-proof key: by range in number order.
pub(crate) fn number_key(number: u64, signed_key: &[u8]) -> Vec<u8> {
    [&b"m/"[..], &number.to_be_bytes(), signed_key].concat()
}

/// What `put` did with a signed proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    Stored,
    /// (block, zkVM) already holds `MAX_PER_ZKVM` proofs from other nodes.
    Full,
}

pub(crate) fn put(
    db: &DB,
    number: u64,
    hash: &Hash32,
    zkvm: &str,
    node: &str,
    bytes: &[u8],
) -> Result<Put, rocksdb::Error> {
    let prefix = zkvm_prefix(hash, zkvm);
    let key = [&prefix[..], node.as_bytes()].concat();
    let held = prefixed(db, &prefix).take(MAX_PER_ZKVM + 1).collect::<Result<Vec<_>, _>>()?;
    if held.len() >= MAX_PER_ZKVM && !held.iter().any(|(k, _)| **k == *key) {
        return Ok(Put::Full);
    }
    let mut batch = WriteBatch::default();
    batch.put(&key, bytes);
    batch.put(number_key(number, &key), b"");
    db.write(batch)?;
    Ok(Put::Stored)
}

/// A key and its value as RocksDB hands them out.
type Entry = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>;

/// Entries under `prefix`, in key order.
fn prefixed<'a>(db: &'a DB, prefix: &'a [u8]) -> impl Iterator<Item = Entry> + 'a {
    db.iterator(IteratorMode::From(prefix, Direction::Forward))
        .take_while(move |item| item.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
}

/// Values in order until adding the next would pass `max_bytes`.
fn capped(
    values: impl Iterator<Item = Result<Vec<u8>, rocksdb::Error>>,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, rocksdb::Error> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for v in values {
        let v = v?;
        total = total.saturating_add(v.len());
        if total > max_bytes {
            break;
        }
        out.push(v);
    }
    Ok(out)
}

pub(crate) fn by_root(db: &DB, hash: &Hash32, zkvm: &str, max_bytes: usize) -> Result<Vec<Vec<u8>>, rocksdb::Error> {
    let prefix = zkvm_prefix(hash, zkvm);
    capped(prefixed(db, &prefix).take(MAX_PER_ZKVM).map(|item| item.map(|(_, v)| v.to_vec())), max_bytes)
}

/// Blocks `start..start + count` in number order, only `zkvms` (all when
/// empty), until `max_bytes`.
pub(crate) fn by_range(
    db: &DB,
    (start, count): (u64, u64),
    zkvms: &[String],
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, rocksdb::Error> {
    let from = [&b"m/"[..], &start.to_be_bytes()].concat();
    let end = start.saturating_add(count);
    let keys = db
        .iterator(IteratorMode::From(&from, Direction::Forward))
        .map_while(|item| match item {
            Err(e) => Some(Err(e)),
            Ok((k, _)) => {
                let number = u64::from_be_bytes(k.get(2..10)?.try_into().ok()?);
                (k.starts_with(b"m/") && number < end).then(|| Ok(k[10..].to_vec()))
            }
        })
        .filter(|k| {
            k.as_ref().map_or(true, |k| zkvms.is_empty() || zkvm_of(k).is_some_and(|z| zkvms.iter().any(|w| w == z)))
        });
    let values = keys.filter_map(|k| match k {
        Err(e) => Some(Err(e)),
        Ok(k) => db.get(&k).transpose(),
    });
    capped(values, max_bytes)
}

/// Moves signed proofs stored under the old layout (`r/<hash>/<zkvm>/<node>`,
/// indexed by `n/<number><r key>`) to this one. An old key whose names fail
/// the names rule (an injected name) is dropped, not moved. Idempotent.
pub(crate) fn migrate_old_layout(db: &DB) -> Result<(usize, usize), rocksdb::Error> {
    let mut batch = WriteBatch::default();
    let (mut moved, mut dropped) = (0, 0);
    let mut handled = std::collections::HashSet::new();
    for item in db.iterator(IteratorMode::From(b"n/", Direction::Forward)) {
        let (k, _) = item?;
        if !k.starts_with(b"n/") {
            break;
        }
        batch.delete(&k);
        let (Some(number), Some(old)) = (k.get(2..10), k.get(10..)) else { continue };
        let number = u64::from_be_bytes(number.try_into().unwrap_or([0; 8]));
        let value = db.get(old)?;
        batch.delete(old);
        handled.insert(old.to_vec());
        match (old_names(old), value) {
            (Some((hash, zkvm, node)), Some(v)) => {
                let key = [&zkvm_prefix(&hash, zkvm)[..], node.as_bytes()].concat();
                batch.put(number_key(number, &key), b"");
                batch.put(key, v);
                moved += 1;
            }
            _ => dropped += 1,
        }
    }
    // Old proof keys without an index entry cannot be served by range: dropped too.
    for item in db.iterator(IteratorMode::From(b"r/", Direction::Forward)) {
        let (k, _) = item?;
        if !k.starts_with(b"r/") {
            break;
        }
        if !handled.contains(&k[..]) {
            batch.delete(&k);
            dropped += 1;
        }
    }
    if moved + dropped > 0 {
        db.write(batch)?;
    }
    Ok((moved, dropped))
}

/// (hash, zkVM, node) of an old `r/<32 raw bytes>/<zkvm>/<node>` key, when both names pass.
fn old_names(k: &[u8]) -> Option<(Hash32, &str, &str)> {
    let hash = Hash32::from_slice(k.strip_prefix(b"r/")?.get(..32)?).ok()?;
    if k.get(34) != Some(&b'/') {
        return None;
    }
    let rest = std::str::from_utf8(k.get(35..)?).ok()?;
    let (zkvm, node) = rest.rsplit_once('/')?;
    (names::check_zkvm_name(zkvm).is_ok() && names::check_node_id(node).is_ok()).then_some((hash, zkvm, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Hash32 = Hash32([7; 32]);

    fn db() -> (tempfile::TempDir, DB) {
        let dir = tempfile::tempdir().unwrap();
        let db = DB::open_default(dir.path()).unwrap();
        (dir, db)
    }

    /// specs/p2p.md §6: a name that reaches the store cannot shadow another
    /// zkVM's proofs (the old `r/<hash>/<zkvm>/<node>` keys let 16 proofs named
    /// `stark/0` hide the node's own STARK proofs from by-root and by-range).
    #[test]
    fn no_zkvm_name_shadows_another() {
        let (_d, db) = db();
        for i in 0..16u8 {
            put(&db, 5, &H, "stark/0", &format!("x{i}"), b"junk").unwrap();
        }
        put(&db, 5, &H, "stark", "me", b"mine").unwrap();
        assert_eq!(by_root(&db, &H, "stark", usize::MAX).unwrap(), vec![b"mine".to_vec()]);
        assert_eq!(by_range(&db, (5, 1), &["stark".into()], usize::MAX).unwrap(), vec![b"mine".to_vec()]);
    }

    /// specs/p2p.md §6: at most `MAX_PER_ZKVM` proofs per (block, zkVM); a node's own replaces its own.
    #[test]
    fn proofs_per_block_and_zkvm_are_bounded() {
        let (_d, db) = db();
        for i in 0..MAX_PER_ZKVM {
            assert_eq!(put(&db, 5, &H, "stark", &format!("n{i}"), b"p").unwrap(), Put::Stored);
        }
        assert_eq!(put(&db, 5, &H, "stark", "late", b"p").unwrap(), Put::Full);
        assert_eq!(
            put(&db, 5, &H, "stark", "n0", b"again").unwrap(),
            Put::Stored,
            "an existing node's entry is rewritten"
        );
        assert_eq!(by_root(&db, &H, "stark", usize::MAX).unwrap().len(), MAX_PER_ZKVM);
        assert_eq!(put(&db, 5, &H, "sim:pico-prism", "late", b"p").unwrap(), Put::Stored, "per zkVM");
    }

    /// specs/p2p.md §6: replies stop before the byte cap (4 MiB proofs: a
    /// range of 128 blocks would otherwise be gigabytes).
    #[test]
    fn replies_stop_at_the_byte_cap() {
        let (_d, db) = db();
        let big = vec![1u8; 1000];
        for n in 0..10u64 {
            put(&db, n, &Hash32([n as u8; 32]), "stark", "a", &big).unwrap();
        }
        assert_eq!(by_range(&db, (0, 10), &[], 3500).unwrap().len(), 3);
        assert_eq!(by_range(&db, (0, 10), &[], usize::MAX).unwrap().len(), 10);
        assert_eq!(by_root(&db, &Hash32([0; 32]), "stark", 999).unwrap().len(), 0);
    }

    /// Old-layout keys move; one with an injected name is dropped, not moved.
    #[test]
    fn old_keys_move_and_injected_ones_are_dropped() {
        let (_d, db) = db();
        let old =
            |zkvm: &str, node: &str| [&b"r/"[..], H.as_bytes(), b"/", zkvm.as_bytes(), b"/", node.as_bytes()].concat();
        for (zkvm, node) in [("stark", "nodea"), ("stark/0", "x")] {
            let k = old(zkvm, node);
            db.put(&k, zkvm.as_bytes()).unwrap();
            db.put([&b"n/"[..], &9u64.to_be_bytes(), &k].concat(), b"").unwrap();
        }
        db.put(old("sp1", "orphan"), b"o").unwrap();
        assert_eq!(migrate_old_layout(&db).unwrap(), (1, 2));
        assert_eq!(by_root(&db, &H, "stark", usize::MAX).unwrap(), vec![b"stark".to_vec()]);
        assert_eq!(by_range(&db, (9, 1), &[], usize::MAX).unwrap().len(), 1);
        assert_eq!(migrate_old_layout(&db).unwrap(), (0, 0), "idempotent");
    }
}
