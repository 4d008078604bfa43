//! The progress line on a terminal's stderr and the log lines that share
//! that stderr. One lock orders them: a log line first erases a drawn
//! progress line (the reporter draws it again on its next tick), so neither
//! ever lands in the middle of the other.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

/// Back to the start of the line and erase it (ANSI "erase in line", whole line).
const ERASE: &[u8] = b"\r\x1b[2K";

/// Whether a progress line is drawn and not ended with a newline.
static DRAWN: Mutex<bool> = Mutex::new(false);

fn drawn() -> MutexGuard<'static, bool> {
    // A panic while drawing leaves nothing half-valid behind: a bool.
    DRAWN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether stderr is a terminal (then progress is a redrawn line, else log lines).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Replaces whatever is on the current line with `line`, no newline.
fn redraw_on(w: &mut impl Write, line: &str) -> io::Result<()> {
    w.write_all(ERASE)?;
    w.write_all(line.as_bytes())?;
    w.flush()
}

/// Replaces whatever is on the current line with `line` and ends it.
fn end_on(w: &mut impl Write, line: &str) -> io::Result<()> {
    w.write_all(ERASE)?;
    w.write_all(line.as_bytes())?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Writes `buf` (a log line) after erasing a drawn progress line.
fn log_on(w: &mut impl Write, drawn: &mut bool, buf: &[u8]) -> io::Result<usize> {
    if *drawn {
        w.write_all(ERASE)?;
        *drawn = false;
    }
    w.write(buf)
}

/// Draws the progress line on stderr. Progress is a courtesy: a failed write is ignored.
pub(crate) fn draw(line: &str) {
    let mut drawn = drawn();
    *drawn = redraw_on(&mut io::stderr().lock(), line).is_ok();
}

/// Leaves `line` as the progress line's last state on stderr, ended.
pub(crate) fn end(line: &str) {
    let mut drawn = drawn();
    let _ = end_on(&mut io::stderr().lock(), line);
    *drawn = false;
}

/// Stderr for log lines (`tracing_subscriber::fmt().with_writer(log_writer)`):
/// a drawn progress line is erased before each log line.
pub struct LogWriter;

pub fn log_writer() -> LogWriter {
    LogWriter
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut drawn = drawn();
        log_on(&mut io::stderr().lock(), &mut drawn, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

// Tests of specs/chain.md §6 (Progress), one behaviour each.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redraw_returns_to_the_line_start_erases_it_and_stays_on_it() {
        let mut out = Vec::new();
        redraw_on(&mut out, "queue: 1/2").unwrap();
        assert_eq!(out, b"\r\x1b[2Kqueue: 1/2");
    }

    #[test]
    fn the_end_replaces_the_line_and_ends_it() {
        let mut out = Vec::new();
        end_on(&mut out, "queue: 2/2 in 1.0s").unwrap();
        assert_eq!(out, b"\r\x1b[2Kqueue: 2/2 in 1.0s\n");
    }

    #[test]
    fn a_log_line_erases_a_drawn_progress_line_first() {
        let (mut out, mut drawn) = (Vec::new(), true);
        log_on(&mut out, &mut drawn, b"INFO block queued\n").unwrap();
        assert_eq!(out, b"\r\x1b[2KINFO block queued\n");
        assert!(!drawn);
    }

    #[test]
    fn a_log_line_is_written_as_is_when_no_progress_line_is_drawn() {
        let (mut out, mut drawn) = (Vec::new(), false);
        log_on(&mut out, &mut drawn, b"INFO block queued\n").unwrap();
        assert_eq!(out, b"INFO block queued\n");
    }
}
