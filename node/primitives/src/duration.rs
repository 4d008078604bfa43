//! Durations as operators write them in config files and flags.

use std::time::Duration;

use crate::error::DurationError;

/// Parses durations like `500ms`, `2s`, `1.5s`, `1m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|source| DurationError::Number { text: s.into(), source })?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        other => return Err(DurationError::Unit { unit: other.into(), text: s.into() }),
    };
    Duration::try_from_secs_f64(secs).map_err(|source| DurationError::Range { text: s.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_errors() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        let unit = parse_duration("5h").unwrap_err();
        assert_eq!(unit.to_string(), "invalid duration unit \"h\" in \"5h\": use ms, s or m");
        let word = parse_duration("fast").unwrap_err();
        assert!(matches!(word, DurationError::Number { .. }), "{word}");
        assert!(std::error::Error::source(&word).is_some(), "the float parse error is kept");
        assert!(parse_duration("-1s").is_err());
        // Parses as a float (infinity), but is no duration.
        assert!(matches!(parse_duration(&"9".repeat(400)), Err(DurationError::Range { .. })));
    }
}
