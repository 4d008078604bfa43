//! What flows between stages (specs/pipeline.md §4): a dispatcher's proof
//! result, and a collector's group of members. With a blob store the proof
//! bytes travel by content digest (V3), so no queue payload cap limits a proof.

use slotproof_primitives::wire::{Reader, Writer};
use slotproof_queue::{BlobDigest, BlobStore};

use crate::error::PipelineError;

/// V1 had no cycle count; still read, so proofs queued by an older node survive an upgrade.
const PROOF_V1: u8 = 0x50;
const PROOF_V2: u8 = 0x51;
/// V3: as V2, the proof bytes replaced by their digest in the node's blob store.
const PROOF_V3: u8 = 0x52;
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

    /// The proof inline (V2): for a pipeline without a blob store.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(PROOF_V2, &self.proof)
    }

    /// The proof stored in `blobs` first, the payload carrying its digest (V3).
    pub fn encode_stored(&self, blobs: &BlobStore) -> Result<Vec<u8>, PipelineError> {
        let digest = blobs.put(&self.proof).map_err(PipelineError::Blob)?;
        Ok(self.encode_as(PROOF_V3, &digest.0))
    }

    fn encode_as(&self, version: u8, proof: &[u8]) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + proof.len() + self.public_values.len());
        w.u8(version);
        w.str(&self.zkvm);
        w.u8(self.simulated as u8);
        w.u64(self.proving_us);
        w.bytes(&self.input_digest);
        w.bytes(proof);
        w.bytes(&self.public_values);
        w.u8(u8::from(self.cycles.is_some()));
        w.u64(self.cycles.unwrap_or(0));
        w.finish()
    }

    /// A payload with its proof inline (V1, V2); a V3 one needs [`Self::decode_stored`].
    pub fn decode(bytes: &[u8]) -> Result<Self, PipelineError> {
        let (p, stored) = Self::decode_raw(bytes)?;
        if stored {
            return Err(PipelineError::Payload("the proof is stored by digest: read it with the blob store".into()));
        }
        Ok(p)
    }

    /// Any payload; a V3 one's proof read back from `blobs` (its digest checked).
    pub fn decode_stored(bytes: &[u8], blobs: &BlobStore) -> Result<Self, PipelineError> {
        let (mut p, stored) = Self::decode_raw(bytes)?;
        if stored {
            let digest = proof_digest(&p.proof)?;
            p.proof = blobs.get(&digest).map_err(PipelineError::Blob)?;
        }
        Ok(p)
    }

    /// The blob a V3 payload refers to; None for an inline proof or another payload.
    pub fn blob_ref(bytes: &[u8]) -> Option<BlobDigest> {
        if bytes.first() != Some(&PROOF_V3) {
            return None;
        }
        Self::decode_raw(bytes).ok().and_then(|(p, _)| proof_digest(&p.proof).ok())
    }

    /// The payload with `proof` as written (the digest, for V3), and whether it is V3.
    fn decode_raw(bytes: &[u8]) -> Result<(Self, bool), PipelineError> {
        let mut r = Reader::new(bytes);
        let p = (|| -> Result<(Self, bool), PipelineError> {
            let version = r.u8()?;
            if ![PROOF_V1, PROOF_V2, PROOF_V3].contains(&version) {
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
            let cycles = if version == PROOF_V1 {
                None
            } else {
                let known = r.u8()? != 0;
                let c = r.u64()?;
                known.then_some(c)
            };
            let p = ProofPayload { zkvm, simulated, proving_us, input_digest, proof, public_values, cycles };
            Ok((p, version == PROOF_V3))
        })()?;
        r.finish()?;
        Ok(p)
    }
}

fn proof_digest(bytes: &[u8]) -> Result<BlobDigest, PipelineError> {
    <[u8; 32]>::try_from(bytes)
        .map(BlobDigest)
        .map_err(|_| PipelineError::Payload("a stored proof's digest is not 32 bytes".into()))
}

/// The blobs a task payload refers to: a V3 proof's, or those of a collected
/// group's members (for the node's sweep of unreferenced blobs).
pub fn blob_refs(bytes: &[u8]) -> Vec<BlobDigest> {
    if let Some(d) = ProofPayload::blob_ref(bytes) {
        return vec![d];
    }
    if bytes.first() == Some(&COLLECTED_V1)
        && let Ok(c) = Collected::decode(bytes)
    {
        return c.members.iter().filter_map(|m| ProofPayload::blob_ref(&m.payload)).collect();
    }
    Vec::new()
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

    /// A 4 MiB proof (EIP-8025's bound) travels by digest: the payload stays
    /// small, reads back whole, and a damaged blob is an error, not a proof.
    #[test]
    fn a_stored_proof_travels_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let p = ProofPayload {
            zkvm: "ext".into(),
            simulated: false,
            proving_us: 1,
            input_digest: [1; 32],
            proof: vec![0xab; 4 << 20],
            public_values: vec![2; 32],
            cycles: None,
        };
        let bytes = p.encode_stored(&blobs).unwrap();
        assert!(bytes.len() < 256, "{} bytes", bytes.len());
        assert_eq!(ProofPayload::decode_stored(&bytes, &blobs).unwrap(), p);
        assert!(ProofPayload::decode(&bytes).is_err(), "no silent empty proof");
        let d = ProofPayload::blob_ref(&bytes).unwrap();
        let group = Collected {
            partial: false,
            members: vec![Member { queue: "q".into(), target: "ext".into(), subtask: 0, payload: bytes.clone() }],
        };
        assert_eq!(blob_refs(&group.encode()), [d]);
        assert_eq!(blob_refs(&p.encode()), [], "an inline proof refers to no blob");
        std::fs::write(dir.path().join(d.to_string()), b"other").unwrap();
        let err = ProofPayload::decode_stored(&bytes, &blobs).unwrap_err();
        assert!(slotproof_primitives::ErrorChain(&err).to_string().contains("does not hash"), "{err}");
    }
}
