//! What a progress report says, computed from a snapshot of the work: the
//! terminal line, the final line, and the numbers behind them (fraction,
//! rate, ETA). Pure: the time elapsed is given, so tests choose the clock.

use std::time::Duration;

/// What "done" counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Units of work (tasks, blocks) done of a known total.
    Count { total: u64, unit: &'static str },
    /// A run of a known length: the time elapsed is the work done.
    Timed { length: Duration },
    /// Neither a count nor a length is known: only the time elapsed.
    Elapsed,
}

/// The work as it stands at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    pub what: &'a str,
    pub measure: Measure,
    /// Units done (`Measure::Count`; ignored otherwise).
    pub done: u64,
    pub elapsed: Duration,
}

impl Snapshot<'_> {
    /// How much is done, 0.0 to 1.0; None when nothing bounds the work.
    pub fn fraction(&self) -> Option<f64> {
        let f = match self.measure {
            Measure::Count { total: 0, .. } => 1.0,
            Measure::Count { total, .. } => self.done as f64 / total as f64,
            Measure::Timed { length } if length.is_zero() => 1.0,
            Measure::Timed { length } => self.elapsed.as_secs_f64() / length.as_secs_f64(),
            Measure::Elapsed => return None,
        };
        Some(f.clamp(0.0, 1.0))
    }

    /// Units done per second so far (`Measure::Count` only); None before any time has passed.
    pub fn rate(&self) -> Option<f64> {
        match self.measure {
            Measure::Count { .. } if !self.elapsed.is_zero() => Some(self.done as f64 / self.elapsed.as_secs_f64()),
            _ => None,
        }
    }

    /// Time left at the rate so far; None while it cannot be told (nothing done yet, no bound).
    pub fn eta(&self) -> Option<Duration> {
        match self.measure {
            Measure::Count { total, .. } => {
                let left = total.saturating_sub(self.done);
                if left == 0 {
                    return Some(Duration::ZERO);
                }
                let rate = self.rate().filter(|r| *r > 0.0)?;
                Some(Duration::from_secs_f64(left as f64 / rate))
            }
            Measure::Timed { length } => Some(length.saturating_sub(self.elapsed)),
            Measure::Elapsed => None,
        }
    }

    /// Whole percent done, rounded down: 100 only once everything is.
    pub fn percent(&self) -> Option<u64> {
        self.fraction().map(|f| (f * 100.0).floor() as u64)
    }

    /// The line redrawn on a terminal while the work runs, e.g.
    /// `bench queue: 120345/200000 tasks 60% 48.2k/s ETA 2s`.
    pub fn line(&self) -> String {
        let what = self.what;
        let eta = self.eta().map_or_else(|| "?".to_string(), duration);
        let percent = self.percent().unwrap_or(0);
        match self.measure {
            Measure::Count { total, unit } => {
                let rate = self.rate().map_or_else(|| "?".to_string(), amount);
                format!("{what}: {}/{total} {unit} {percent}% {rate}/s ETA {eta}", self.done)
            }
            Measure::Timed { length } => {
                format!("{what}: {}/{} {percent}% ETA {eta}", duration(self.elapsed), duration(length))
            }
            Measure::Elapsed => format!("{what}: {} elapsed", duration(self.elapsed)),
        }
    }

    /// The line left behind when the work ends, e.g.
    /// `bench queue: 200000/200000 tasks in 4.1s (48.8k/s)`.
    pub fn final_line(&self) -> String {
        let (what, took) = (self.what, duration(self.elapsed));
        match (self.measure, self.rate()) {
            (Measure::Count { total, unit }, Some(rate)) => {
                format!("{what}: {}/{total} {unit} in {took} ({}/s)", self.done, amount(rate))
            }
            (Measure::Count { total, unit }, None) => format!("{what}: {}/{total} {unit} in {took}", self.done),
            _ => format!("{what}: done in {took}"),
        }
    }

    /// The fields of the log line off a terminal: (done, total, rate per second, ETA in seconds).
    /// A timed or open-ended run counts seconds.
    pub fn log_fields(&self) -> (u64, Option<u64>, Option<f64>, Option<u64>) {
        let eta_s = self.eta().map(|d| d.as_secs_f64().ceil() as u64);
        match self.measure {
            Measure::Count { total, .. } => {
                (self.done, Some(total), self.rate().map(|r| (r * 10.0).round() / 10.0), eta_s)
            }
            Measure::Timed { length } => (self.elapsed.as_secs(), Some(length.as_secs()), None, eta_s),
            Measure::Elapsed => (self.elapsed.as_secs(), None, None, None),
        }
    }
}

/// A rate or count for a person: `7.5`, `420`, `48.2k`, `1.25M`.
fn amount(x: f64) -> String {
    match x {
        x if x < 10.0 => format!("{x:.1}"),
        x if x < 1_000.0 => format!("{x:.0}"),
        x if x < 1_000_000.0 => format!("{:.1}k", x / 1_000.0),
        x => format!("{:.2}M", x / 1_000_000.0),
    }
}

/// A duration for a person: `4.1s` under ten seconds, `42s`, `2m05s`, `1h02m`.
fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        return format!("{s:.1}s");
    }
    let whole = d.as_secs();
    match whole {
        0..60 => format!("{whole}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

// Tests of specs/chain.md §6 (Progress), one behaviour each.
#[cfg(test)]
mod tests {
    use super::*;

    fn gossip(elapsed: Duration) -> Snapshot<'static> {
        Snapshot { what: "bench gossip", measure: Measure::Timed { length: Duration::from_secs(20) }, done: 0, elapsed }
    }

    fn tasks(done: u64, total: u64, secs: f64) -> Snapshot<'static> {
        Snapshot {
            what: "bench queue",
            measure: Measure::Count { total, unit: "tasks" },
            done,
            elapsed: Duration::from_secs_f64(secs),
        }
    }

    #[test]
    fn rate_is_units_done_per_second_elapsed() {
        assert_eq!(tasks(500, 1000, 2.0).rate(), Some(250.0));
    }

    #[test]
    fn rate_is_unknown_before_any_time_passed() {
        assert_eq!(tasks(0, 1000, 0.0).rate(), None);
    }

    #[test]
    fn eta_is_what_is_left_at_the_rate_so_far() {
        assert_eq!(tasks(250, 1000, 1.0).eta(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn eta_is_unknown_while_nothing_is_done() {
        assert_eq!(tasks(0, 1000, 5.0).eta(), None);
    }

    #[test]
    fn eta_is_zero_once_everything_is_done_even_past_the_total() {
        assert_eq!(tasks(1200, 1000, 1.0).eta(), Some(Duration::ZERO));
        assert_eq!(tasks(1200, 1000, 1.0).percent(), Some(100));
    }

    #[test]
    fn percent_shows_100_only_when_everything_is_done() {
        assert_eq!(tasks(999, 1000, 1.0).percent(), Some(99));
        assert_eq!(tasks(1000, 1000, 1.0).percent(), Some(100));
    }

    #[test]
    fn an_empty_total_is_done() {
        assert_eq!(tasks(0, 0, 0.0).percent(), Some(100));
    }

    #[test]
    fn the_count_line_says_what_done_total_percent_rate_and_eta() {
        assert_eq!(tasks(120_345, 200_000, 2.5).line(), "bench queue: 120345/200000 tasks 60% 48.1k/s ETA 1.7s");
    }

    #[test]
    fn the_count_line_says_unknown_before_a_rate_exists() {
        assert_eq!(tasks(0, 10, 0.0).line(), "bench queue: 0/10 tasks 0% ?/s ETA ?");
    }

    #[test]
    fn the_timed_line_counts_time_against_the_run_length() {
        let s = gossip(Duration::from_secs(5));
        assert_eq!(s.line(), "bench gossip: 5.0s/20s 25% ETA 15s");
    }

    #[test]
    fn the_open_line_says_only_the_time_elapsed() {
        let s = Snapshot { what: "proving", measure: Measure::Elapsed, done: 0, elapsed: Duration::from_secs(125) };
        assert_eq!(s.line(), "proving: 2m05s elapsed");
    }

    #[test]
    fn the_final_line_says_how_long_it_took_and_the_rate() {
        assert_eq!(tasks(200_000, 200_000, 4.1).final_line(), "bench queue: 200000/200000 tasks in 4.1s (48.8k/s)");
    }

    #[test]
    fn log_fields_carry_done_total_rounded_rate_and_eta_in_whole_seconds() {
        assert_eq!(tasks(100, 1000, 3.0).log_fields().2, Some(33.3));
        assert_eq!(tasks(100, 1000, 4.0).log_fields(), (100, Some(1000), Some(25.0), Some(36)));
    }

    #[test]
    fn log_fields_of_a_timed_run_count_seconds() {
        let s = gossip(Duration::from_millis(5_500));
        assert_eq!(s.log_fields(), (5, Some(20), None, Some(15)));
    }

    #[test]
    fn durations_read_in_the_largest_sensible_units() {
        assert_eq!(duration(Duration::from_millis(4_140)), "4.1s");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(3_720)), "1h02m");
    }

    #[test]
    fn amounts_read_with_a_few_significant_digits() {
        assert_eq!(
            (amount(7.46), amount(420.2), amount(48_210.0), amount(1_254_000.0)),
            ("7.5".to_string(), "420".to_string(), "48.2k".to_string(), "1.25M".to_string())
        );
    }
}
