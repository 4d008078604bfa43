//! `Hash32`: every 32-byte hash the node handles (block hashes, input
//! digests, proof roots) as one type: raw bytes in keys and on the wire,
//! `0x`-prefixed lowercase hex in JSON, logs and URLs. Parsing is strict.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::HexError;

#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `0x` and the first four bytes: enough to tell blocks apart in a log line.
    pub fn short(&self) -> String {
        crate::hex::encode_prefixed(&self.0[..4])
    }

    /// From a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash32, HexError> {
        <[u8; 32]>::try_from(bytes).map(Hash32).map_err(|_| HexError::Length { expected: 32, got: bytes.len() })
    }
}

impl From<[u8; 32]> for Hash32 {
    fn from(bytes: [u8; 32]) -> Self {
        Hash32(bytes)
    }
}

impl From<Hash32> for [u8; 32] {
    fn from(h: Hash32) -> Self {
        h.0
    }
}

impl AsRef<[u8]> for Hash32 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode_prefixed(&self.0))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Hash32 {
    type Err = HexError;

    /// 64 hex digits, with or without `0x`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::hex::decode_array(s).map(Hash32)
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "0x3dc4ef568ae2635db1419c5fec55c4a9322c05302ae527cd40bff380c1d465dd";

    #[test]
    fn text_round_trip_and_json_form() {
        let h: Hash32 = BLOCK.parse().unwrap();
        assert_eq!(h.to_string(), BLOCK);
        assert_eq!(h.short(), "0x3dc4ef56");
        assert_eq!(BLOCK[2..].parse::<Hash32>().unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{BLOCK}\""));
        assert_eq!(serde_json::from_str::<Hash32>(&json).unwrap(), h);
    }

    #[test]
    fn refuses_wrong_lengths_and_digits() {
        assert!(BLOCK[..64].parse::<Hash32>().is_err());
        assert!(format!("{BLOCK}00").parse::<Hash32>().is_err());
        assert!(BLOCK.replace('d', "g").parse::<Hash32>().is_err());
        assert!(serde_json::from_str::<Hash32>("\"0x12\"").is_err());
        assert!(Hash32::from_slice(&[0; 31]).is_err());
    }
}
