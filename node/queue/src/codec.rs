//! Binary records of the RocksDB backend (specs/queue.md §8).
//! Decoding is strict: a short, long or unknown record is an error, never a guess.

use slotproof_primitives::WireError;
use slotproof_primitives::wire::{Reader, Writer};

use crate::id::TaskId;
use crate::task::{TaskInfo, TaskState};

const FORMAT_V1: u8 = 1;
const STATE_PENDING: u8 = 0;
const STATE_DEAD: u8 = 1;

/// A lease as stored in the `leases` column family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseRecord {
    pub token: u64,
    pub deadline_ms: u64,
    pub worker: String,
}

/// Header of a pending or dead task. Lease state lives in its own record.
pub(crate) fn encode_task(t: &TaskInfo) -> Vec<u8> {
    let mut w = Writer::with_capacity(96 + t.queue.len() + t.target.len());
    w.u8(FORMAT_V1);
    for s in [&t.queue, &t.pipeline, &t.stage, &t.target] {
        w.str(s);
    }
    w.u64(t.block_number);
    w.u32(t.subtask);
    w.u8(t.priority);
    w.u64(t.seq);
    w.u32(t.attempts);
    w.u32(t.max_attempts);
    w.u64(t.enqueued_at_ms);
    w.u32(t.payload_len);
    match &t.state {
        TaskState::Dead => {
            w.u8(STATE_DEAD);
            w.u64(0);
        }
        TaskState::Pending { not_before_ms } => {
            w.u8(STATE_PENDING);
            w.u64(*not_before_ms);
        }
        // A leased task's header is stored as pending: the lease record says otherwise,
        // and if the lease is lost the task is pending again (specs/queue.md §7).
        TaskState::Leased { .. } => {
            w.u8(STATE_PENDING);
            w.u64(0);
        }
    }
    w.str(t.last_error.as_deref().unwrap_or(""));
    w.finish()
}

pub(crate) fn decode_task(id: TaskId, bytes: &[u8]) -> Result<TaskInfo, WireError> {
    let mut r = Reader::new(bytes);
    r.format(FORMAT_V1)?;
    let queue = r.str()?;
    let pipeline = r.str()?;
    let stage = r.str()?;
    let target = r.str()?;
    let block_number = r.u64()?;
    let subtask = r.u32()?;
    let priority = r.u8()?;
    let seq = r.u64()?;
    let attempts = r.u32()?;
    let max_attempts = r.u32()?;
    let enqueued_at_ms = r.u64()?;
    let payload_len = r.u32()?;
    let state_tag = r.u8()?;
    let not_before_ms = r.u64()?;
    let state = match state_tag {
        STATE_PENDING => TaskState::Pending { not_before_ms },
        STATE_DEAD => TaskState::Dead,
        tag => return Err(WireError::UnknownTag { what: "task state", tag }),
    };
    let err = r.str()?;
    r.finish()?;
    Ok(TaskInfo {
        id,
        queue,
        pipeline,
        stage,
        block_number,
        subtask,
        target,
        priority,
        seq,
        attempts,
        max_attempts,
        enqueued_at_ms,
        payload_len,
        state,
        last_error: if err.is_empty() { None } else { Some(err) },
    })
}

pub(crate) fn encode_lease(l: &LeaseRecord) -> Vec<u8> {
    let mut w = Writer::with_capacity(24 + l.worker.len());
    w.u8(FORMAT_V1);
    w.u64(l.token);
    w.u64(l.deadline_ms);
    w.str(&l.worker);
    w.finish()
}

pub(crate) fn decode_lease(bytes: &[u8]) -> Result<LeaseRecord, WireError> {
    let mut r = Reader::new(bytes);
    r.format(FORMAT_V1)?;
    let rec = LeaseRecord { token: r.u64()?, deadline_ms: r.u64()?, worker: r.str()? };
    r.finish()?;
    Ok(rec)
}

pub(crate) fn encode_done(done_at_ms: u64, queue: &str) -> Vec<u8> {
    let mut w = Writer::with_capacity(16 + queue.len());
    w.u8(FORMAT_V1);
    w.u64(done_at_ms);
    w.str(queue);
    w.finish()
}

pub(crate) fn decode_done(bytes: &[u8]) -> Result<(u64, String), WireError> {
    let mut r = Reader::new(bytes);
    r.format(FORMAT_V1)?;
    let out = (r.u64()?, r.str()?);
    r.finish()?;
    Ok(out)
}

pub(crate) fn decode_id(key: &[u8]) -> Result<TaskId, String> {
    <[u8; 32]>::try_from(key).map(TaskId).map_err(|_| format!("task key of {} bytes, expected 32", key.len()))
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(bytes).map(u64::from_be_bytes).map_err(|_| format!("{} bytes, expected 8", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(state: TaskState) -> TaskInfo {
        TaskInfo {
            id: TaskId([7; 32]),
            queue: "blocks".into(),
            pipeline: "p".into(),
            stage: "s".into(),
            block_number: 21_230_866,
            subtask: 3,
            target: "stark".into(),
            priority: 100,
            seq: 42,
            attempts: 2,
            max_attempts: 5,
            enqueued_at_ms: 1_700_000_000_000,
            payload_len: 10,
            state,
            last_error: Some("prover crashed".into()),
        }
    }

    #[test]
    fn task_round_trips() {
        for state in [TaskState::Dead, TaskState::Pending { not_before_ms: 99 }] {
            let t = sample(state);
            assert_eq!(decode_task(t.id, &encode_task(&t)), Ok(t));
        }
    }

    #[test]
    fn truncated_or_extended_records_are_rejected() {
        let bytes = encode_task(&sample(TaskState::Dead));
        for cut in 0..bytes.len() {
            assert!(decode_task(TaskId([0; 32]), &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_task(TaskId([0; 32]), &long).is_err());
        let mut wrong_format = bytes;
        wrong_format[0] = 9;
        assert!(decode_task(TaskId([0; 32]), &wrong_format).is_err());
    }

    #[test]
    fn lease_and_done_round_trip() {
        let l = LeaseRecord { token: 5, deadline_ms: 6, worker: "w1".into() };
        assert_eq!(decode_lease(&encode_lease(&l)), Ok(l));
        assert_eq!(decode_done(&encode_done(9, "q")), Ok((9, "q".to_string())));
        assert!(decode_lease(&[1, 2]).is_err());
    }
}
