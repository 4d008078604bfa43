//! Errors of the shared encodings: each says what was wrong with the text or
//! bytes it was given, never where they came from (the caller adds that).

/// A hex string that is not what was asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("odd number of hex digits ({0})")]
    OddLength(usize),
    #[error("not a hex digit: {0:?}")]
    BadDigit(char),
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// A duration an operator wrote that is not one (`duration::parse_duration`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {text:?}: expected e.g. 500ms, 2s, 1m")]
    Number {
        text: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("invalid duration unit {unit:?} in {text:?}: use ms, s or m")]
    Unit { unit: String, text: String },
    #[error("invalid duration {text:?}: {source}")]
    Range {
        text: String,
        #[source]
        source: std::time::TryFromFloatSecsError,
    },
}

/// A binary record (`wire::Reader`) that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: wanted {wanted} more bytes, {left} left")]
    Truncated { wanted: usize, left: usize },
    #[error("string is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    /// A tag byte of the record's own (a state, a kind) with no meaning.
    #[error("unknown {what} {tag}")]
    UnknownTag { what: &'static str, tag: u8 },
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// A block header (`header::Header::from_block_json`) that cannot be
/// re-encoded, or does not hash to the hash it claims.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("block field {field}: missing")]
    Missing { field: &'static str },
    #[error("block field {field}: not a string")]
    NotString { field: &'static str },
    #[error("block field {field}: {value:?} is not 0x-prefixed hex")]
    NotPrefixed { field: &'static str, value: String },
    #[error("block field {field}: {value:?} is not {expected}: {source}")]
    NotHex {
        field: &'static str,
        value: String,
        expected: &'static str,
        #[source]
        source: HexError,
    },
    #[error("block field {field}: {got} bytes, expected {expected}")]
    Length { field: &'static str, got: usize, expected: usize },
    #[error("block field number: over 64 bits")]
    NumberOver64Bits,
    #[error("block field {field}: present while the earlier fork field {earlier} is absent")]
    ForkOrder { field: &'static str, earlier: &'static str },
    #[error(
        "block field hash: {claimed} is not the Keccak-256 of the header fields ({computed}): the block is not what the RPC says"
    )]
    /// Both hashes as `0x` hex (text, so this module needs nothing of `hash`,
    /// which needs `HexError` from here).
    HashMismatch { claimed: String, computed: String },
}

/// An error and all its causes on one line (`outer: cause: root`), as
/// anyhow's `{:#}` prints them: for logs and for tests that check a message.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
