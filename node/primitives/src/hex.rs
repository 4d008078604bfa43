//! The one hex encoding of the project: lowercase, and on input an optional
//! `0x` prefix. Every crate uses these two functions rather than its own.

use crate::error::HexError;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex without a prefix.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// `0x` followed by lowercase hex.
pub fn encode_prefixed(bytes: &[u8]) -> String {
    format!("0x{}", encode(bytes))
}

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::BadDigit(c as char)),
    }
}

/// Hex with or without `0x`, either case; strict: an odd length or any other
/// character is an error, never a silently shorter result.
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let digits = s.strip_prefix("0x").unwrap_or(s).as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength(digits.len()));
    }
    digits.chunks_exact(2).map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// Exactly `N` bytes of hex.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = decode(s)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HexError::Length { expected: N, got: bytes.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(encode(&bytes), "0001abff");
        assert_eq!(encode_prefixed(&bytes), "0x0001abff");
        assert_eq!(decode("0x0001ABff").unwrap(), bytes);
        assert_eq!(decode("0001abff").unwrap(), bytes);
        assert_eq!(decode("abc"), Err(HexError::OddLength(3)));
        assert_eq!(decode("zz"), Err(HexError::BadDigit('z')));
        assert_eq!(decode_array::<2>("0x0102"), Ok([1, 2]));
        assert_eq!(decode_array::<2>("010203"), Err(HexError::Length { expected: 2, got: 3 }));
    }
}
