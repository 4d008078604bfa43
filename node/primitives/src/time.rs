//! The one wall clock of the project, in unix milliseconds (what records,
//! deadlines and wire messages carry).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds; 0 if the system clock is before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
