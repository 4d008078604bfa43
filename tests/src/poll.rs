//! Waiting for a condition instead of sleeping for a guess: a probe is
//! called until it says the condition holds, or the deadline passes and the
//! test fails showing the last state the probe saw.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// How often a probe runs: often enough to add little to a test's time,
/// rarely enough that probing (HTTP, `slotproof results`) costs little CPU.
const EVERY: Duration = Duration::from_millis(250);

/// Calls `probe` until it returns `Break(value)`, and returns the value.
/// `Continue(state)` means "not yet", with what it saw; after `within` the
/// test fails with `what` and that last state.
pub fn wait_for<T>(what: &str, within: Duration, probe: impl FnMut() -> ControlFlow<T, String>) -> T {
    wait_for_every(what, within, EVERY, probe)
}

/// [`wait_for`], probing every `every`: for a moment the test must act in
/// quickly (killing a node right after it claims work).
pub fn wait_for_every<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> ControlFlow<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        let state = match probe() {
            ControlFlow::Break(value) => return value,
            ControlFlow::Continue(state) => state,
        };
        assert!(started.elapsed() < within, "timed out after {within:?} waiting for {what}; last state:\n{state}");
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let got = wait_for("three calls", Duration::from_secs(5), || {
            calls += 1;
            if calls == 3 { ControlFlow::Break(calls) } else { ControlFlow::Continue(format!("{calls} calls")) }
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "last state:\nstill 1")]
    fn fails_with_the_last_state_after_the_deadline() {
        wait_for::<()>("never", Duration::from_millis(300), || ControlFlow::Continue("still 1".into()));
    }
}
