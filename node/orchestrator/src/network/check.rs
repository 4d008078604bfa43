//! The check of a proof from the network (specs/p2p.md §5): its signature is
//! its node id's, it names the block it was fetched for, its public input
//! names that block, and the zkVM's own verifier accepts it against the
//! block's stored proving input (on a blocking thread, panics caught).
//! Owns `CheckContext` (what the check needs from the store, read up front),
//! the typed refusals and `Checked` (the result, back on the node loop);
//! never reports to gossipsub or writes the store itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use slotproof_p2p::envelope::{self, SignatureError};
use slotproof_p2p::wire::SignedProof;
use slotproof_p2p::{MessageAcceptance, MessageId, P2pError, PeerId};
use slotproof_primitives::{Hash32, now_ms};
use slotproof_zkvm::{ProofArtifact, Prover, ProverError, ProvingInput};
use tokio::sync::Semaphore;

use crate::results::{ReceivedProof, ResultStore};

/// Verifiers by zkVM name.
pub type Verifiers = Arc<BTreeMap<String, Arc<dyn Prover>>>;

/// A fetched proof after its checks, back on the node loop.
#[derive(Debug)]
pub struct Checked {
    /// The gossip message to report on (none for a by-range catch-up).
    pub report: Option<(MessageId, PeerId)>,
    pub number: u64,
    pub hash: Hash32,
    /// The announced root this check was for (fetches are deduplicated by it).
    pub root: Option<Hash32>,
    pub result: Result<Passed, CheckError>,
}

/// A proof that passed every check.
#[derive(Debug)]
pub struct Passed {
    /// The proof as recorded.
    pub proof: ReceivedProof,
    /// Its signed bytes, to store and serve.
    pub signed: Vec<u8>,
    /// blake3 of the zkVM name and the proof data: the same proof re-signed
    /// by another node has the same digest (specs/p2p.md §4, standing).
    pub data_digest: Hash32,
}

/// Why a proof from the network was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("fetching the announced proof")]
    Fetch(#[source] P2pError),
    #[error("the peer announced a proof it does not serve")]
    NotServed,
    #[error("bad signature")]
    Signature(#[source] SignatureError),
    #[error("the proof is for another block ({number} {hash})")]
    OtherBlock { number: u64, hash: Hash32 },
    #[error("the public input is not the block's NewPayloadRequest root")]
    PublicInput,
    #[error("block {number} is not recorded here")]
    NotRecorded { number: u64 },
    #[error("{zkvm} proofs cannot be verified here")]
    Unverifiable { zkvm: String },
    #[error("{zkvm} proof does not verify")]
    DoesNotVerify {
        zkvm: String,
        #[source]
        source: ProverError,
    },
    #[error("{zkvm} verifier panicked on the proof")]
    VerifierPanicked { zkvm: String },
}

impl CheckError {
    /// What gossipsub is told: a fetch that failed or a block not held here
    /// is not the sender's fault (ignore); anything the proof itself got
    /// wrong penalises the sender (reject).
    pub fn acceptance(&self) -> MessageAcceptance {
        match self {
            CheckError::Fetch(_) | CheckError::NotRecorded { .. } | CheckError::Unverifiable { .. } => {
                MessageAcceptance::Ignore
            }
            _ => MessageAcceptance::Reject,
        }
    }
}

/// What checking a proof of one block needs, read from the store before the check runs.
#[derive(Clone)]
pub struct CheckContext {
    pub number: u64,
    pub hash: Hash32,
    /// The block's proving-input digest; none when the block is not recorded here.
    pub input_digest: Option<Hash32>,
    /// The block's `NewPayloadRequest` root as this node built it; none when it could not.
    pub new_payload_request_root: Option<Hash32>,
    pub deadline_ms: u64,
    pub verifiers: Verifiers,
    /// Verifications at once, all proofs together (external verifiers are processes).
    pub permits: Arc<Semaphore>,
}

impl CheckContext {
    pub fn load(
        store: &ResultStore,
        verifiers: &Verifiers,
        permits: &Arc<Semaphore>,
        number: u64,
        hash: Hash32,
    ) -> CheckContext {
        let record = store.get(number, &hash).ok().flatten();
        let input_digest = record.as_ref().map(|r| r.input_digest);
        CheckContext {
            number,
            hash,
            input_digest,
            new_payload_request_root: record.as_ref().and_then(|r| r.new_payload_request_root),
            deadline_ms: record.map_or(0, |r| r.deadline_ms),
            verifiers: verifiers.clone(),
            permits: permits.clone(),
        }
    }
}

/// The proof as this node records it, before its verifier has run.
fn as_received(signed: &SignedProof, signer: &PeerId) -> ReceivedProof {
    let m = &signed.message;
    let zkvm = m.zkvm_name();
    ReceivedProof {
        simulated: zkvm.starts_with("sim:"),
        zkvm,
        node: signer.to_string(),
        proving_ms: m.proving_ms,
        proof_bytes: m.proof_data().len() as u64,
        verified: false,
        within_deadline: false,
        received_ms: now_ms(),
        root: Some(signed.root().0),
        error: None,
    }
}

/// blake3 of a zkVM name and proof data: the same for a proof and its copy under another signature.
pub fn data_digest(zkvm: &str, proof: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(zkvm.as_bytes()).update(&[0]).update(proof);
    Hash32(*h.finalize().as_bytes())
}

/// Signature, block, then the zkVM's own verifier (on a blocking thread).
pub async fn check(ctx: CheckContext, signed: SignedProof) -> Result<Passed, CheckError> {
    let signer = envelope::check(&signed).map_err(CheckError::Signature)?;
    let m = &signed.message;
    if m.number != ctx.number || m.block_hash() != ctx.hash {
        return Err(CheckError::OtherBlock { number: m.number, hash: m.block_hash() });
    }
    // specs/p2p.md §3: the public input must be the root this node built for
    // the block. A node that could not build one (an Electra block without a
    // beacon node) cannot judge it; the zkVM's statement still binds the block.
    if ctx.new_payload_request_root.is_some_and(|root| root != m.new_payload_request_root()) {
        return Err(CheckError::PublicInput);
    }
    let mut received = as_received(&signed, &signer);
    let digest = ctx.input_digest.ok_or(CheckError::NotRecorded { number: ctx.number })?;
    let zkvm = received.zkvm.clone();
    // specs/p2p.md §5: a proof this node cannot verify is not its business: ignored, never stored.
    let verifier = ctx.verifiers.get(&zkvm).cloned().ok_or_else(|| CheckError::Unverifiable { zkvm: zkvm.clone() })?;
    let data_digest = data_digest(&zkvm, m.proof_data());
    let artifact = ProofArtifact {
        zkvm: zkvm.clone(),
        proof: m.proof_data().to_vec(),
        public_values: m.public_values().to_vec(),
        cycles: None,
        proving_time: Duration::from_millis(m.proving_ms),
        simulated: received.simulated,
    };
    // The reference names the stored input by its digest (see inputs::StoredInput).
    let reference = ProvingInput::new(ctx.number, digest.0.to_vec()).with_block_hash(ctx.hash.0);
    let _permit = ctx.permits.acquire_owned().await.map_err(|_| CheckError::VerifierPanicked { zkvm: zkvm.clone() })?;
    let verdict = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verifier.verify(&artifact, &reference)))
    })
    .await;
    match verdict {
        Ok(Ok(Ok(()))) => {
            received.verified = true;
            received.within_deadline = received.received_ms <= ctx.deadline_ms;
            Ok(Passed { proof: received, signed: signed.encode(), data_digest })
        }
        Ok(Ok(Err(source))) => Err(CheckError::DoesNotVerify { zkvm, source }),
        Ok(Err(_)) | Err(_) => Err(CheckError::VerifierPanicked { zkvm }),
    }
}

#[cfg(test)]
mod tests {
    use slotproof_p2p::Keypair;
    use slotproof_p2p::wire::{self, ProofEnvelope, ProofParts};
    use slotproof_zkvm::{CancelToken, ExecutionReport, Resources, ZkvmIdentity};

    use super::*;

    const BLOCK: Hash32 = Hash32([1; 32]);
    const DIGEST: Hash32 = Hash32([3; 32]);
    const ROOT: Hash32 = Hash32([4; 32]);

    /// A verifier that answers as told, after checking it was handed the block's input reference.
    struct Answer {
        id: ZkvmIdentity,
        accept: Option<bool>,
    }

    impl Prover for Answer {
        fn identity(&self) -> &ZkvmIdentity {
            &self.id
        }
        fn resources(&self) -> Resources {
            Resources::default()
        }
        fn execute(&self, _: &ProvingInput) -> Result<ExecutionReport, ProverError> {
            Err(ProverError::Permanent("verify only".into()))
        }
        fn prove(&self, _: &ProvingInput, _: &CancelToken) -> Result<ProofArtifact, ProverError> {
            Err(ProverError::Permanent("verify only".into()))
        }
        fn verify(&self, artifact: &ProofArtifact, input: &ProvingInput) -> Result<(), ProverError> {
            assert_eq!((input.block_number, &input.bytes[..]), (7, &DIGEST.0[..]), "the stored input's reference");
            assert_eq!(artifact.proof, b"proof bytes");
            match self.accept {
                Some(true) => Ok(()),
                Some(false) => Err(ProverError::Invalid("wrong proof".into())),
                None => panic!("a verifier bug"),
            }
        }
    }

    fn verifiers(accept: Option<bool>) -> Verifiers {
        let id = ZkvmIdentity { name: "stark".into(), version: "1".into(), proof_type: 0x80 };
        Arc::new(BTreeMap::from([("stark".to_string(), Arc::new(Answer { id, accept }) as Arc<dyn Prover>)]))
    }

    fn ctx(accept: Option<bool>) -> CheckContext {
        CheckContext {
            number: 7,
            hash: BLOCK,
            input_digest: Some(DIGEST),
            new_payload_request_root: Some(ROOT),
            deadline_ms: u64::MAX,
            verifiers: verifiers(accept),
            permits: Arc::new(Semaphore::new(1)),
        }
    }

    fn envelope(key: &Keypair, zkvm: &str) -> ProofEnvelope {
        let parts = ProofParts {
            number: 7,
            hash: BLOCK,
            zkvm: zkvm.into(),
            proving_ms: 800,
            proof_type: 0x80,
            proof: b"proof bytes".to_vec(),
            public_values: vec![1, 2],
            new_payload_request_root: ROOT,
        };
        ProofEnvelope::new(&key.public().to_peer_id().to_string(), parts).unwrap()
    }

    fn signed(zkvm: &str) -> (Keypair, SignedProof) {
        let key = Keypair::generate_ed25519();
        let s = envelope::sign(&key, envelope(&key, zkvm)).unwrap();
        (key, s)
    }

    /// specs/p2p.md §5: a proof its verifier accepts is recorded as verified, signed bytes kept.
    #[tokio::test]
    async fn a_valid_proof_is_verified_and_kept() {
        let (key, s) = signed("stark");
        let passed = check(ctx(Some(true)), s.clone()).await.unwrap();
        let p = passed.proof;
        assert!(p.verified && p.within_deadline && p.error.is_none());
        assert_eq!((p.node, p.root, p.proof_bytes), (key.public().to_peer_id().to_string(), Some(s.root().0), 11));
        assert_eq!(SignedProof::decode(&passed.signed).unwrap(), s);
        let (_, other) = signed("stark");
        assert_eq!(
            check(ctx(Some(true)), other).await.unwrap().data_digest,
            passed.data_digest,
            "same data, another signer"
        );
    }

    /// specs/p2p.md §3, §5: the signature must be the node id's.
    #[tokio::test]
    async fn a_bad_signature_is_rejected() {
        let (_, mut s) = signed("stark");
        s.signature[0] ^= 1;
        let e = check(ctx(Some(true)), s).await.unwrap_err();
        assert!(matches!(e, CheckError::Signature(SignatureError::Bad)), "{e:?}");
        assert_eq!(e.acceptance(), MessageAcceptance::Reject);
        let other = Keypair::generate_ed25519();
        let key = Keypair::generate_ed25519();
        let forged = envelope::sign(&other, envelope(&key, "stark")).unwrap();
        assert!(matches!(check(ctx(Some(true)), forged).await, Err(CheckError::Signature(SignatureError::Bad))));
    }

    /// specs/p2p.md §5: the envelope must name the block it was fetched for.
    #[tokio::test]
    async fn a_proof_of_another_block_is_rejected() {
        let (_, s) = signed("stark");
        let mut c = ctx(Some(true));
        c.number = 8;
        assert!(matches!(check(c, s.clone()).await, Err(CheckError::OtherBlock { number: 7, hash: BLOCK })));
        let mut c = ctx(Some(true));
        c.hash = Hash32([2; 32]);
        let e = check(c, s).await.unwrap_err();
        assert!(matches!(e, CheckError::OtherBlock { .. }));
        assert_eq!(e.acceptance(), MessageAcceptance::Reject);
    }

    /// specs/p2p.md §3: EIP-8025's public input must be the block's
    /// `NewPayloadRequest` root as this node built it; the block hash (what
    /// the field held before roots were built) is refused too.
    #[tokio::test]
    async fn a_public_input_not_the_blocks_root_is_rejected() {
        for wrong in [Hash32([5; 32]), BLOCK, Hash32::ZERO] {
            let key = Keypair::generate_ed25519();
            let mut env = envelope(&key, "stark");
            env.proof.public_input.new_payload_request_root = wire::hash256(wrong);
            let s = envelope::sign(&key, env).unwrap();
            let e = check(ctx(Some(true)), s).await.unwrap_err();
            assert!(matches!(e, CheckError::PublicInput), "{wrong}: {e:?}");
            assert_eq!(e.acceptance(), MessageAcceptance::Reject);
        }
        // A node with no root for the block leaves the field to the zkVM's statement.
        let (_, s) = signed("stark");
        let mut c = ctx(Some(true));
        c.new_payload_request_root = None;
        assert!(check(c, s).await.is_ok());
    }

    /// specs/p2p.md §5: a zkVM this node cannot verify is ignored: not kept,
    /// not forwarded, not the sender's fault (it used to be kept as unverified,
    /// and a disk could be filled with proofs of made-up zkVMs).
    #[tokio::test]
    async fn an_unverifiable_zkvm_is_ignored_not_kept() {
        let (_, s) = signed("sp1");
        let e = check(ctx(Some(true)), s).await.unwrap_err();
        assert!(matches!(&e, CheckError::Unverifiable { zkvm } if zkvm == "sp1"), "{e:?}");
        assert_eq!(e.acceptance(), MessageAcceptance::Ignore);
    }

    /// specs/p2p.md §5: a proof its verifier refuses is rejected, the verifier's reason kept.
    #[tokio::test]
    async fn a_proof_the_verifier_rejects_is_rejected() {
        let (_, s) = signed("stark");
        let e = check(ctx(Some(false)), s).await.unwrap_err();
        assert!(matches!(&e, CheckError::DoesNotVerify { zkvm, source: ProverError::Invalid(_) } if zkvm == "stark"));
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.acceptance(), MessageAcceptance::Reject);
    }

    /// specs/p2p.md §5: a verifier that panics does not take the node down; the proof is rejected.
    #[tokio::test]
    async fn a_verifier_panic_is_caught_and_rejected() {
        let (_, s) = signed("stark");
        let e = check(ctx(None), s).await.unwrap_err();
        assert!(matches!(&e, CheckError::VerifierPanicked { zkvm } if zkvm == "stark"), "{e:?}");
        assert_eq!(e.acceptance(), MessageAcceptance::Reject);
    }

    /// specs/p2p.md §5: a block not recorded here cannot be checked: ignored, not the sender's fault.
    #[tokio::test]
    async fn a_block_not_recorded_here_is_ignored() {
        let (_, s) = signed("stark");
        let mut c = ctx(Some(true));
        c.input_digest = None;
        let e = check(c, s).await.unwrap_err();
        assert!(matches!(e, CheckError::NotRecorded { number: 7 }));
        assert_eq!(e.acceptance(), MessageAcceptance::Ignore);
    }

    /// A proof that arrives after the block's deadline is verified but not in time.
    #[tokio::test]
    async fn a_late_proof_is_verified_but_not_within_the_deadline() {
        let (_, s) = signed("stark");
        let mut c = ctx(Some(true));
        c.deadline_ms = 1;
        let p = check(c, s).await.unwrap().proof;
        assert!(p.verified && !p.within_deadline);
    }
}
