//! What flows between stages (specs/pipeline.md §4): a dispatcher's proof
//! result, and a collector's group of members.

use slotproof_primitives::wire::{Reader, Writer};

use crate::error::PipelineError;

/// V1 had no cycle count; still read, so proofs queued by an older node survive an upgrade.
const PROOF_V1: u8 = 0x50;
const PROOF_V2: u8 = 0x51;
const COLLECTED_V1: u8 = 0x43;

/// A dispatcher's output: what its prover returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPayload {
    pub zkvm: String,
    pub simulated: bool,
    pub proving_us: u64,
    pub input_digest: [u8; 32],
    pub proof: Vec<u8>,
    pub public_values: Vec<u8>,
    /// Cycles the prover reported, when it did.
    pub cycles: Option<u64>,
}

impl ProofPayload {
    /// The artifact a verifier checks.
    pub fn artifact(&self) -> slotproof_zkvm::ProofArtifact {
        slotproof_zkvm::ProofArtifact {
            zkvm: self.zkvm.clone(),
            proof: self.proof.clone(),
            public_values: self.public_values.clone(),
            cycles: self.cycles,
            proving_time: std::time::Duration::from_micros(self.proving_us),
            simulated: self.simulated,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.proof.len() + self.public_values.len());
        w.u8(PROOF_V2);
        w.str(&self.zkvm);
        w.u8(self.simulated as u8);
        w.u64(self.proving_us);
        w.bytes(&self.input_digest);
        w.bytes(&self.proof);
        w.bytes(&self.public_values);
        w.u8(u8::from(self.cycles.is_some()));
        w.u64(self.cycles.unwrap_or(0));
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PipelineError> {
        let mut r = Reader::new(bytes);
        let p = (|| -> Result<Self, PipelineError> {
            let version = r.u8()?;
            if version != PROOF_V1 && version != PROOF_V2 {
                return Err(PipelineError::Payload(format!("not a proof payload (format byte {version:#04x})")));
            }
            let zkvm = r.str()?;
            let simulated = r.u8()? != 0;
            let proving_us = r.u64()?;
            let input_digest = r
                .bytes()?
                .try_into()
                .map_err(|_| PipelineError::Payload("input digest is not 32 bytes".to_string()))?;
            let proof = r.bytes()?.to_vec();
            let public_values = r.bytes()?.to_vec();
            let cycles = if version == PROOF_V2 {
                let known = r.u8()? != 0;
                let c = r.u64()?;
                known.then_some(c)
            } else {
                None
            };
            Ok(ProofPayload { zkvm, simulated, proving_us, input_digest, proof, public_values, cycles })
        })()?;
        r.finish()?;
        Ok(p)
    }
}

/// One member of a collected group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub queue: String,
    pub target: String,
    pub subtask: u32,
    pub payload: Vec<u8>,
}

/// A collector's output: the members it joined, and whether the group was
/// emitted incomplete at its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    pub partial: bool,
    pub members: Vec<Member>,
}

impl Collected {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(COLLECTED_V1);
        w.u8(self.partial as u8);
        w.u32(self.members.len() as u32);
        for m in &self.members {
            w.str(&m.queue);
            w.str(&m.target);
            w.u32(m.subtask);
            w.bytes(&m.payload);
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PipelineError> {
        let mut r = Reader::new(bytes);
        let c = (|| -> Result<Self, PipelineError> {
            r.format(COLLECTED_V1)?;
            let partial = r.u8()? != 0;
            let n = r.u32()?;
            let mut members = Vec::new();
            for _ in 0..n {
                members.push(Member {
                    queue: r.str()?,
                    target: r.str()?,
                    subtask: r.u32()?,
                    payload: r.bytes()?.to_vec(),
                });
            }
            Ok(Collected { partial, members })
        })()?;
        r.finish()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_reject_garbage() {
        let p = ProofPayload {
            zkvm: "stark".into(),
            simulated: false,
            proving_us: 1234,
            input_digest: [9; 32],
            proof: vec![1, 2, 3],
            public_values: vec![4],
            cycles: Some(77),
        };
        assert_eq!(ProofPayload::decode(&p.encode()).unwrap(), p);
        // A V1 payload (no cycles) written by an older node still decodes.
        let mut v1 = p.encode();
        v1.truncate(v1.len() - 9);
        v1[0] = PROOF_V1;
        assert_eq!(ProofPayload::decode(&v1).unwrap(), ProofPayload { cycles: None, ..p.clone() });
        let c = Collected {
            partial: true,
            members: vec![Member { queue: "q".into(), target: "sp1".into(), subtask: 2, payload: p.encode() }],
        };
        assert_eq!(Collected::decode(&c.encode()).unwrap(), c);
        assert!(Collected::decode(&p.encode()).is_err());
        assert!(ProofPayload::decode(&[PROOF_V1, 0, 0]).is_err());
    }
}
