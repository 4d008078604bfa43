//! A snapshot of a queue's live tasks and done counts, and what is computed from
//! it: statistics and listings (specs/queue.md §10). The same code serves a live
//! queue and a secondary (read-only) view of a running node's database.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::QueueError;
use crate::task::{TaskInfo, TaskState};

#[derive(Clone, Debug, Default)]
pub struct QueueView {
    pub tasks: Vec<TaskInfo>,
    pub done_counts: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Ready to lease now.
    pub pending: u64,
    /// Pending but backing off after a failure.
    pub delayed: u64,
    pub leased: u64,
    pub dead: u64,
    pub done: u64,
    /// Age of the oldest pending or delayed task.
    pub oldest_pending_age_ms: Option<u64>,
}

impl QueueCounts {
    fn add_task(&mut self, t: &TaskInfo, now_ms: u64) {
        match t.state.label(now_ms) {
            "pending" => self.pending += 1,
            "delayed" => self.delayed += 1,
            "leased" => self.leased += 1,
            _ => self.dead += 1,
        }
        if matches!(t.state, TaskState::Pending { .. }) {
            let age = now_ms.saturating_sub(t.enqueued_at_ms);
            self.oldest_pending_age_ms = Some(self.oldest_pending_age_ms.map_or(age, |a| a.max(age)));
        }
    }

    fn merge(&mut self, o: &QueueCounts) {
        self.pending += o.pending;
        self.delayed += o.delayed;
        self.leased += o.leased;
        self.dead += o.dead;
        self.done += o.done;
        self.oldest_pending_age_ms = match (self.oldest_pending_age_ms, o.oldest_pending_age_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Tasks not yet done.
    pub fn live(&self) -> u64 {
        self.pending + self.delayed + self.leased + self.dead
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub queues: BTreeMap<String, QueueCounts>,
    pub total: QueueCounts,
}

/// Which live tasks a listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateFilter {
    #[default]
    All,
    Pending,
    Delayed,
    Leased,
    Dead,
}

impl std::str::FromStr for StateFilter {
    type Err = QueueError;

    fn from_str(s: &str) -> Result<Self, QueueError> {
        Ok(match s {
            "all" => StateFilter::All,
            "pending" => StateFilter::Pending,
            "delayed" => StateFilter::Delayed,
            "leased" => StateFilter::Leased,
            "dead" => StateFilter::Dead,
            other => return Err(QueueError::UnknownStateFilter(other.to_string())),
        })
    }
}

impl StateFilter {
    fn matches(self, t: &TaskInfo, now_ms: u64) -> bool {
        let label = t.state.label(now_ms);
        match self {
            StateFilter::All => true,
            StateFilter::Pending => label == "pending",
            StateFilter::Delayed => label == "delayed",
            StateFilter::Leased => label == "leased",
            StateFilter::Dead => label == "dead",
        }
    }
}

impl QueueStats {
    /// Counts of live tasks by queue and state, with each queue's done count.
    pub(crate) fn of<'a>(
        tasks: impl Iterator<Item = &'a TaskInfo>,
        done_counts: impl Iterator<Item = (&'a String, u64)>,
        now_ms: u64,
    ) -> QueueStats {
        let mut queues: BTreeMap<String, QueueCounts> = BTreeMap::new();
        for (name, done) in done_counts {
            queues.entry(name.clone()).or_default().done = done;
        }
        for t in tasks {
            match queues.get_mut(&t.queue) {
                Some(c) => c.add_task(t, now_ms),
                None => queues.entry(t.queue.clone()).or_default().add_task(t, now_ms),
            }
        }
        let mut total = QueueCounts::default();
        for c in queues.values() {
            total.merge(c);
        }
        QueueStats { queues, total }
    }
}

impl QueueView {
    pub fn stats(&self, now_ms: u64) -> QueueStats {
        QueueStats::of(self.tasks.iter(), self.done_counts.iter().map(|(n, d)| (n, *d)), now_ms)
    }

    /// Live tasks in lease order (queue name, then the order key), at most `limit`.
    pub fn list(&self, queue: Option<&str>, filter: StateFilter, limit: usize, now_ms: u64) -> Vec<TaskInfo> {
        let mut out: Vec<&TaskInfo> =
            self.tasks.iter().filter(|t| queue.is_none_or(|q| q == t.queue) && filter.matches(t, now_ms)).collect();
        out.sort_by(|a, b| (&a.queue, a.order_key()).cmp(&(&b.queue, b.order_key())));
        out.into_iter().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_filter_parses_its_names_and_refuses_others() {
        assert_eq!("dead".parse::<StateFilter>().ok(), Some(StateFilter::Dead));
        assert_eq!("all".parse::<StateFilter>().ok(), Some(StateFilter::All));
        let err = "done".parse::<StateFilter>().err();
        assert!(matches!(&err, Some(QueueError::UnknownStateFilter(w)) if w == "done"), "{err:?}");
    }
}
