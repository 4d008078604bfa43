//! When the next report is due: at most one per period, measured on the
//! reporter's own clock (time since the work started), so tests pass any time.

use std::time::Duration;

/// Reports due once per `period`: the first one period after the start.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    period: Duration,
    next: Duration,
}

impl Schedule {
    pub fn every(period: Duration) -> Self {
        Schedule { period, next: period }
    }

    /// Whether a report is due at `elapsed`. When it is, the next one is a
    /// full period later: a late wake-up never causes a burst of catch-up reports.
    pub fn due(&mut self, elapsed: Duration) -> bool {
        if elapsed < self.next {
            return false;
        }
        self.next = elapsed + self.period;
        true
    }

    /// How long from `elapsed` until the next report is due.
    pub fn wait(&self, elapsed: Duration) -> Duration {
        self.next.saturating_sub(elapsed)
    }
}

// Tests of specs/chain.md §6 (Progress), one behaviour each.
#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn nothing_is_due_before_the_first_period_ends() {
        let mut s = Schedule::every(FIVE);
        assert!(!s.due(Duration::from_millis(4_999)));
    }

    #[test]
    fn a_report_is_due_once_the_period_has_passed() {
        let mut s = Schedule::every(FIVE);
        assert!(s.due(FIVE));
    }

    #[test]
    fn a_report_is_not_due_twice_in_one_period() {
        let mut s = Schedule::every(FIVE);
        assert!(s.due(FIVE));
        assert!(!s.due(Duration::from_secs(9)));
        assert!(s.due(Duration::from_secs(10)));
    }

    #[test]
    fn a_late_check_gives_one_report_not_a_burst() {
        let mut s = Schedule::every(FIVE);
        assert!(s.due(Duration::from_secs(23)));
        assert!(!s.due(Duration::from_secs(24)));
        assert_eq!(s.wait(Duration::from_secs(24)), Duration::from_secs(4));
    }

    #[test]
    fn the_wait_is_the_time_left_to_the_next_report() {
        let s = Schedule::every(FIVE);
        assert_eq!(s.wait(Duration::from_secs(2)), Duration::from_secs(3));
        assert_eq!(s.wait(Duration::from_secs(7)), Duration::ZERO);
    }
}
