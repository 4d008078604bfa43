//! The reporter: a handle the work counts on (one relaxed atomic add), and a
//! thread of its own that looks at the count on a timer and reports it. The
//! work never waits for a report; the thread ends, with a last report, when
//! the handle is finished or dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::info;

use crate::line::{Measure, Snapshot};
use crate::schedule::Schedule;
use crate::terminal;

/// At most ten redraws a second on a terminal.
const TERMINAL_PERIOD: Duration = Duration::from_millis(100);
/// One log line per five seconds off a terminal.
const LOG_PERIOD: Duration = Duration::from_secs(5);

/// Where progress goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// One line on stderr, redrawn in place, ended at the finish.
    Terminal,
    /// An `info!` line (target `slotproof::progress`) every five seconds and one at the finish.
    Log,
    /// Nowhere (tests).
    Silent,
}

impl Output {
    /// `Terminal` when stderr is a terminal, else `Log`.
    pub fn detect() -> Output {
        if terminal::stderr_is_terminal() { Output::Terminal } else { Output::Log }
    }

    fn period(self) -> Duration {
        match self {
            Output::Terminal => TERMINAL_PERIOD,
            Output::Log | Output::Silent => LOG_PERIOD,
        }
    }
}

/// Counts units done; cheap to clone into worker threads.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the count, for work that knows its total done rather than each step.
    pub fn set(&self, done: u64) {
        self.0.store(done, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Progress of one piece of work, reported until it is finished or dropped.
pub struct Progress {
    counter: Counter,
    /// Dropping it (or a message) ends the reporting thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// `total` units of `unit` ("tasks", "blocks") to do, reported where [`Output::detect`] says.
    pub fn count(what: impl Into<String>, total: u64, unit: &'static str) -> Progress {
        Progress::start(what, Measure::Count { total, unit }, Output::detect())
    }

    /// A run of about `length`: the time elapsed is the progress.
    pub fn timed(what: impl Into<String>, length: Duration) -> Progress {
        Progress::start(what, Measure::Timed { length }, Output::detect())
    }

    /// Work of unknown size: only the time elapsed is reported.
    pub fn elapsed(what: impl Into<String>) -> Progress {
        Progress::start(what, Measure::Elapsed, Output::detect())
    }

    pub fn start(what: impl Into<String>, measure: Measure, output: Output) -> Progress {
        let counter = Counter::default();
        let (stop, stopped) = mpsc::channel();
        let (what, count) = (what.into(), counter.clone());
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || report_until_stopped(&what, measure, output, &count, &stopped))
            .ok();
        // Without a thread the work goes on unreported: progress is never worth failing for.
        Progress { counter, stop: thread.as_ref().map(|_| stop), thread }
    }

    /// A counter for other threads.
    pub fn counter(&self) -> Counter {
        self.counter.clone()
    }

    pub fn inc(&self) {
        self.counter.inc();
    }

    pub fn add(&self, n: u64) {
        self.counter.add(n);
    }

    pub fn set(&self, done: u64) {
        self.counter.set(done);
    }

    /// Ends the reporting with the final line, and waits until it is written.
    pub fn finish(mut self) {
        self.stop_and_wait();
    }

    fn stop_and_wait(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}

/// The reporting thread: a report whenever one is due, the final one when told to stop.
fn report_until_stopped(what: &str, measure: Measure, output: Output, count: &Counter, stopped: &mpsc::Receiver<()>) {
    let start = Instant::now();
    let mut schedule = Schedule::every(output.period());
    let mut last_drawn = String::new();
    // Woken by the stop message (or the handle's drop), else at the next report.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(schedule.wait(start.elapsed())) {
        let elapsed = start.elapsed();
        if !schedule.due(elapsed) {
            continue;
        }
        let now = Snapshot { what, measure, done: count.get(), elapsed };
        match output {
            Output::Terminal => {
                let line = now.line();
                if line != last_drawn {
                    terminal::draw(&line);
                    last_drawn = line;
                }
            }
            Output::Log => log_progress(&now),
            Output::Silent => {}
        }
    }
    let last = Snapshot { what, measure, done: count.get(), elapsed: start.elapsed() };
    match output {
        Output::Terminal => terminal::end(&last.final_line()),
        Output::Log => log_finish(&last),
        Output::Silent => {}
    }
}

fn log_progress(s: &Snapshot<'_>) {
    let (done, total, rate, eta_s) = s.log_fields();
    info!(target: "slotproof::progress", what = s.what, done, total, rate, eta_s, "{}", s.line());
}

fn log_finish(s: &Snapshot<'_>) {
    let (done, total, rate, _) = s.log_fields();
    let elapsed_s = (s.elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
    info!(target: "slotproof::progress", what = s.what, done, total, rate, elapsed_s, "{}", s.final_line());
}

// Tests of specs/chain.md §6 (Progress), one behaviour each.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_does_not_wait_for_the_next_report() {
        let p = Progress::start("work", Measure::Count { total: 10, unit: "items" }, Output::Log);
        p.add(10);
        let began = Instant::now();
        p.finish();
        assert!(began.elapsed() < LOG_PERIOD / 2, "finish took {:?}", began.elapsed());
    }

    #[test]
    fn counters_handed_to_other_threads_add_to_one_count() {
        let p = Progress::start("work", Measure::Count { total: 4, unit: "items" }, Output::Silent);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = p.counter();
                std::thread::spawn(move || c.inc())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(p.counter.get(), 4);
    }
}
