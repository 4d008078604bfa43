//! The one rule for names that travel between nodes and end up in keys,
//! labels and file names: zkVM names (`stark`, `sim:sp1-hypercube`) and node
//! ids (libp2p peer ids, base58). A name that passes cannot contain a path
//! separator, a key separator or a control character, so no name can collide
//! with or shadow another key (specs/p2p.md §3). Checks text; never decides
//! what a name means.

use crate::error::NameError;

/// The longest zkVM name: room for `sim:` and a profile name.
pub const MAX_ZKVM_NAME: usize = 32;
/// The longest node id: an Ed25519 peer id is 52 characters of base58.
pub const MAX_NODE_ID: usize = 64;

/// A zkVM name: 1 to 32 ASCII letters, digits and `:._-`, starting with a letter or digit.
pub fn check_zkvm_name(name: &str) -> Result<(), NameError> {
    check(name, "zkVM name", MAX_ZKVM_NAME, |c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'))
}

/// A node id: 1 to 64 ASCII letters and digits (a peer id's base58).
pub fn check_node_id(id: &str) -> Result<(), NameError> {
    check(id, "node id", MAX_NODE_ID, |c| c.is_ascii_alphanumeric())
}

fn check(name: &str, what: &'static str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), NameError> {
    if name.is_empty() || name.len() > max {
        return Err(NameError::Length { what, len: name.len(), max });
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError::Start { what, name: name.escape_debug().to_string() });
    }
    match name.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(NameError::Char { what, name: name.escape_debug().to_string(), c }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// specs/p2p.md §3: the names the node ships pass.
    #[test]
    fn shipped_names_pass() {
        for n in ["stark", "sim:sp1-hypercube", "sim:zisk-8x5090", "sim:pico-prism", "risc0", "ext.sp1_v5"] {
            assert!(check_zkvm_name(n).is_ok(), "{n}");
        }
        assert!(check_node_id("12D3KooWGzBRhmfHpnf3Whz3Xv5mAiBqgDbb9Da4KbkEH1vVnWTg").is_ok());
    }

    /// specs/p2p.md §3: names that could shadow a key or a path are refused.
    #[test]
    fn injected_names_are_refused() {
        let long = "a".repeat(MAX_ZKVM_NAME + 1);
        for n in ["", "stark/0", "../x", "stark\0", "-x", ":x", "st ark", "stárk", long.as_str(), "a\nb"] {
            assert!(check_zkvm_name(n).is_err(), "{n:?}");
        }
        for n in ["", "peer/1", "peer-1", "a".repeat(65).as_str()] {
            assert!(check_node_id(n).is_err(), "{n:?}");
        }
    }
}
