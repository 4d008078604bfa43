//! The workers a node heard from (specs/workers.md §4): what each has (zkVMs,
//! GPUs, free slots), when it last beat, and what it proved. At most
//! `MAX_WORKERS` entries; a worker silent for `FORGET_AFTER` is dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::protocol::{Beat, ZkvmSlots};

pub const MAX_WORKERS: usize = 256;
pub const FORGET_AFTER: Duration = Duration::from_secs(120);
/// A worker silent this long is shown as not alive (its jobs are taken back sooner).
pub const ALIVE_WITHIN: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
struct Entry {
    host: String,
    gpus: u32,
    zkvms: Vec<ZkvmSlots>,
    last_beat: Instant,
    jobs: usize,
    proofs: u64,
    failures: u64,
    lost: u64,
}

/// What `/status` and the metrics show of one worker.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WorkerStatus {
    pub id: String,
    pub host: String,
    pub alive: bool,
    pub last_beat_ms_ago: u64,
    pub gpus: u32,
    pub zkvms: Vec<ZkvmSlots>,
    pub free_slots: u32,
    pub jobs: usize,
    pub proofs: u64,
    pub failures: u64,
    /// Jobs taken back from it (it went silent, or finished too late).
    pub leases_lost: u64,
}

#[derive(Default)]
pub struct Roster {
    entries: Mutex<BTreeMap<String, Entry>>,
}

/// What happened to one job of a worker, for its counters.
#[derive(Clone, Copy, Debug)]
pub enum JobEnd {
    Proved,
    Failed,
    Lost,
}

impl Roster {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a beat. Returns false when the roster is full of live workers
    /// and this one is new: it is not tracked (and gets no work).
    pub fn beat(&self, beat: &Beat, jobs: usize) -> bool {
        let mut entries = self.lock();
        let now = Instant::now();
        entries.retain(|_, e| now.duration_since(e.last_beat) < FORGET_AFTER);
        if !entries.contains_key(&beat.worker) && entries.len() >= MAX_WORKERS {
            return false;
        }
        let e = entries.entry(beat.worker.clone()).or_insert_with(|| Entry {
            host: String::new(),
            gpus: 0,
            zkvms: Vec::new(),
            last_beat: now,
            jobs: 0,
            proofs: 0,
            failures: 0,
            lost: 0,
        });
        e.host = beat.host.chars().take(64).collect();
        e.gpus = beat.gpus;
        e.zkvms = beat.zkvms.iter().take(16).cloned().collect();
        e.last_beat = now;
        e.jobs = jobs;
        true
    }

    /// Whether `worker` is tracked (has beaten recently).
    pub fn knows(&self, worker: &str) -> bool {
        self.lock().get(worker).is_some_and(|e| e.last_beat.elapsed() < FORGET_AFTER)
    }

    pub fn ended(&self, worker: &str, end: JobEnd) {
        if let Some(e) = self.lock().get_mut(worker) {
            match end {
                JobEnd::Proved => e.proofs += 1,
                JobEnd::Failed => e.failures += 1,
                JobEnd::Lost => e.lost += 1,
            }
        }
    }

    pub fn snapshot(&self) -> Vec<WorkerStatus> {
        self.lock()
            .iter()
            .map(|(id, e)| {
                let ago = e.last_beat.elapsed();
                WorkerStatus {
                    id: id.clone(),
                    host: e.host.clone(),
                    alive: ago < ALIVE_WITHIN,
                    last_beat_ms_ago: ago.as_millis() as u64,
                    gpus: e.gpus,
                    zkvms: e.zkvms.clone(),
                    free_slots: e.zkvms.iter().map(|z| z.free).sum(),
                    jobs: e.jobs,
                    proofs: e.proofs,
                    failures: e.failures,
                    leases_lost: e.lost,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(worker: &str) -> Beat {
        Beat { worker: worker.into(), host: "h".into(), gpus: 1, zkvms: vec![], jobs: vec![] }
    }

    #[test]
    fn the_roster_is_bounded_and_counts_per_worker() {
        let r = Roster::default();
        for i in 0..MAX_WORKERS {
            assert!(r.beat(&beat(&format!("w{i}")), 0));
        }
        assert!(!r.beat(&beat("one-too-many"), 0), "a full roster takes no new worker");
        assert!(r.beat(&beat("w0"), 2), "a known one still beats");
        r.ended("w0", JobEnd::Proved);
        r.ended("w0", JobEnd::Lost);
        let w0 = r.snapshot().into_iter().find(|w| w.id == "w0").expect("w0");
        assert_eq!((w0.proofs, w0.leases_lost, w0.jobs, w0.alive), (1, 1, 2, true));
        assert_eq!(r.snapshot().len(), MAX_WORKERS);
    }
}
