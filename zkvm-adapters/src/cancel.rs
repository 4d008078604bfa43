//! Cancellation shared between a dispatcher, its heartbeat and a running prover.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<(Mutex<bool>, Condvar)>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        let (flag, cv) = &*self.0;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `d` unless cancelled first; returns true if cancelled.
    pub fn sleep(&self, d: Duration) -> bool {
        let (flag, cv) = &*self.0;
        let until = Instant::now() + d;
        let mut cancelled = flag.lock().unwrap_or_else(|e| e.into_inner());
        while !*cancelled {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            cancelled = cv.wait_timeout(cancelled, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}
