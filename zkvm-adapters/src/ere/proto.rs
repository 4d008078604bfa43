//! The messages of ere-server's `api.ZkvmService` (eth-act/ere
//! `crates/server/api/proto/api.proto`, release 0.16.2), declared for prost
//! field by field with the proto's tags; no code generation step.

#![allow(clippy::derive_partial_eq_without_eq)]

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecuteRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub input_stdin: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub input_proofs: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecuteOk {
    #[prost(bytes = "vec", tag = "1")]
    pub public_values: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub report: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecuteResponse {
    #[prost(oneof = "execute_response::Result", tags = "1, 2")]
    pub result: Option<execute_response::Result>,
}

pub mod execute_response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "1")]
        Ok(super::ExecuteOk),
        #[prost(string, tag = "2")]
        Err(String),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProveRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub input_stdin: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub input_proofs: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProveOk {
    #[prost(bytes = "vec", tag = "1")]
    pub public_values: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub proof: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub report: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProveResponse {
    #[prost(oneof = "prove_response::Result", tags = "1, 2")]
    pub result: Option<prove_response::Result>,
}

pub mod prove_response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "1")]
        Ok(super::ProveOk),
        #[prost(string, tag = "2")]
        Err(String),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifyRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub proof: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifyOk {
    #[prost(bytes = "vec", tag = "1")]
    pub public_values: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifyResponse {
    #[prost(oneof = "verify_response::Result", tags = "1, 2")]
    pub result: Option<verify_response::Result>,
}

pub mod verify_response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "1")]
        Ok(super::VerifyOk),
        #[prost(string, tag = "2")]
        Err(String),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProgramVkRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProgramVkOk {
    #[prost(bytes = "vec", tag = "1")]
    pub program_vk: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProgramVkResponse {
    #[prost(oneof = "program_vk_response::Result", tags = "1, 2")]
    pub result: Option<program_vk_response::Result>,
}

pub mod program_vk_response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Result {
        #[prost(message, tag = "1")]
        Ok(super::ProgramVkOk),
        #[prost(string, tag = "2")]
        Err(String),
    }
}

/// The run reports a server returns: Ere's `ProgramProvingReport` and
/// `ProgramExecutionReport` in bincode's legacy encoding (little-endian
/// fixed-width integers; a `Duration` is seconds u64 then nanoseconds u32; an
/// `Option` a tag byte; a map a u64 count), written and read here by hand.
pub mod report {
    use std::time::Duration;

    fn duration(out: &mut Vec<u8>, d: Duration) {
        out.extend_from_slice(&d.as_secs().to_le_bytes());
        out.extend_from_slice(&d.subsec_nanos().to_le_bytes());
    }

    /// `ProgramProvingReport { proving_time, total_num_cycles: Option<u64> }`.
    pub fn proving(proving_time: Duration, cycles: Option<u64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(21);
        duration(&mut out, proving_time);
        match cycles {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(&c.to_le_bytes());
            }
            None => out.push(0),
        }
        out
    }

    /// `ProgramExecutionReport { total_num_cycles, region_cycles: {} , execution_duration }`.
    pub fn execution(cycles: u64, took: Duration) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&cycles.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        duration(&mut out, took);
        out
    }

    /// (proving time, cycles) of a proving report; `None` for anything else.
    pub fn read_proving(bytes: &[u8]) -> Option<(Duration, Option<u64>)> {
        let secs = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let nanos = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
        let cycles = match bytes.get(12)? {
            0 if bytes.len() == 13 => None,
            1 if bytes.len() == 21 => Some(u64::from_le_bytes(bytes.get(13..21)?.try_into().ok()?)),
            _ => return None,
        };
        (nanos < 1_000_000_000).then_some((Duration::new(secs, nanos), cycles))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_proving_report_reads_back_and_junk_is_none() {
            let r = proving(Duration::new(3, 5), Some(77));
            assert_eq!(read_proving(&r), Some((Duration::new(3, 5), Some(77))));
            assert_eq!(read_proving(&proving(Duration::ZERO, None)), Some((Duration::ZERO, None)));
            assert_eq!(read_proving(&r[..20]), None);
            assert_eq!(read_proving(b"junk"), None);
            assert_eq!(execution(9, Duration::from_millis(1)).len(), 28);
        }
    }
}
