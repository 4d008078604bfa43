//! The done set: the ids of tasks acked (and of markers such as emitted
//! groups), which make a second enqueue of the same id a no-op (specs/queue.md
//! §1, §13). It is the queue's dedupe window: a done id is kept for the
//! configured retention and then forgotten, oldest first, so the set is bounded
//! by what completes within the window. It never decides what is done.

use std::collections::{BTreeSet, HashMap};

use crate::id::TaskId;

/// When an id was done and the queue it was done in ("" for markers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DoneMark {
    pub at_ms: u64,
    pub queue: String,
}

#[derive(Default)]
pub(crate) struct DoneSet {
    marks: HashMap<TaskId, DoneMark>,
    /// (done at, id): the oldest first, for pruning.
    by_age: BTreeSet<(u64, TaskId)>,
}

impl DoneSet {
    pub fn from_marks(marks: Vec<(TaskId, DoneMark)>) -> DoneSet {
        let mut set = DoneSet::default();
        for (id, mark) in marks {
            set.insert(id, mark);
        }
        set
    }

    /// Adds `id`; false when it was already done (the first mark is kept).
    pub fn insert(&mut self, id: TaskId, mark: DoneMark) -> bool {
        if self.marks.contains_key(&id) {
            return false;
        }
        self.by_age.insert((mark.at_ms, id));
        self.marks.insert(id, mark);
        true
    }

    pub fn contains(&self, id: &TaskId) -> bool {
        self.marks.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Forgets at most `max` ids done before `cutoff_ms`, oldest first, and returns them.
    pub fn prune(&mut self, cutoff_ms: u64, max: usize) -> Vec<(TaskId, DoneMark)> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(at_ms, id)) = self.by_age.first() else { break };
            if at_ms >= cutoff_ms {
                break;
            }
            self.by_age.pop_first();
            if let Some(mark) = self.marks.remove(&id) {
                out.push((id, mark));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at_ms: u64) -> DoneMark {
        DoneMark { at_ms, queue: "q".into() }
    }

    #[test]
    fn prune_forgets_the_oldest_first_and_at_most_max() {
        let mut set = DoneSet::default();
        for i in 0..5u8 {
            assert!(set.insert(TaskId([i; 32]), mark(100 + u64::from(i))));
        }
        assert!(!set.insert(TaskId([0; 32]), mark(999)), "a second mark is refused");
        let pruned: Vec<u64> = set.prune(104, 2).into_iter().map(|(_, m)| m.at_ms).collect();
        assert_eq!(pruned, [100, 101]);
        assert_eq!(set.prune(104, 10).len(), 2, "only ids done before the cutoff");
        assert!(set.contains(&TaskId([4; 32])) && !set.contains(&TaskId([0; 32])));
        assert_eq!(set.len(), 1);
    }
}
