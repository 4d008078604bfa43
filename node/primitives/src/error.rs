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
