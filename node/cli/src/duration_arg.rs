//! A duration flag: read the way operators write durations in config files
//! (`500ms`, `2s`, `1m`) and printed back the same way, so clap can show a
//! default taken from the code's own `Duration` instead of a copied literal.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use slotproof_primitives::DurationError;
use slotproof_primitives::duration::parse_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl FromStr for DurationArg {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(DurationArg)
    }
}

impl From<Duration> for DurationArg {
    fn from(d: Duration) -> Self {
        DurationArg(d)
    }
}

/// Whole seconds as `12s`, whole milliseconds as `500ms`, else fractional seconds:
/// every form `parse_duration` reads back to the same value.
impl fmt::Display for DurationArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}s", d.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_what_it_parses() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(12),
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_secs(120),
            Duration::from_micros(2_500),
        ] {
            let text = DurationArg(d).to_string();
            assert_eq!(text.parse::<DurationArg>(), Ok(DurationArg(d)), "{text}");
        }
        assert_eq!(DurationArg(Duration::from_secs(12)).to_string(), "12s");
        assert_eq!(DurationArg(Duration::from_millis(500)).to_string(), "500ms");
    }

    #[test]
    fn refuses_what_parse_duration_refuses() {
        assert!("5h".parse::<DurationArg>().is_err());
        assert!("fast".parse::<DurationArg>().is_err());
    }
}
