//! The node key (specs/p2p.md §1): ed25519, one file in the data dir, made on
//! first start with mode 0600. Its peer id is the node id everywhere. The key
//! is never logged; a file that does not decode is an error, never replaced
//! (replacing it would silently change the node's identity).

use std::io::Write;
use std::path::Path;

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};

use crate::error::{KeyError, P2pError};

pub const KEY_FILE: &str = "node.key";

/// Loads `<data_dir>/node.key`, creating it when absent.
pub fn load_or_create(data_dir: &Path) -> Result<Keypair, P2pError> {
    let path = data_dir.join(KEY_FILE);
    load_or_create_at(data_dir, &path).map_err(|source| P2pError::Key { path, source })
}

fn load_or_create_at(data_dir: &Path, path: &Path) -> Result<Keypair, KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            check_mode(path)?;
            Keypair::from_protobuf_encoding(&bytes).map_err(KeyError::Decode)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(KeyError::CreateDir)?;
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(KeyError::Encode)?;
            write_private(path, &bytes).map_err(KeyError::Write)?;
            Ok(key)
        }
        Err(e) => Err(KeyError::Read(e)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)
}

/// A key others can read is refused: it is the node's identity and signs its proofs.
#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(KeyError::Read)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Mode { mode: mode & 0o777 });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// The public key inside an ed25519 peer id (an identity multihash), so a
/// signature can be checked from the node id alone.
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let mh = peer.as_ref();
    (mh.code() == 0).then(|| PublicKey::try_decode_protobuf(mh.digest()).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its causes, as `{:#}` prints them for an operator.
    fn chain(e: P2pError) -> String {
        slotproof_primitives::ErrorChain(&e).to_string()
    }

    #[test]
    fn the_key_persists_is_private_and_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id(), "same identity after a restart");
        let path = dir.path().join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(chain(load_or_create(dir.path()).unwrap_err()).contains("chmod 600"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, b"not a key").unwrap();
        let e = chain(load_or_create(dir.path()).unwrap_err());
        assert!(e.contains("does not decode"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key", "never overwritten");
        let peer = a.public().to_peer_id();
        assert_eq!(public_key_of(&peer), Some(a.public()));
    }
}
