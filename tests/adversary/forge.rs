//! The hostile messages themselves, built for one block the adversary heard
//! of: what each attack of issue 13 puts on the wire. Pure: nothing here
//! sends; `attacks.rs` decides when and to whom.

use slotproof_p2p::Keypair;
use slotproof_p2p::envelope::sign;
use slotproof_p2p::wire::{
    self, BlockTask, Claim, ExecutionProof, Heartbeat, Name, Progress, ProofAnnouncement, ProofEnvelope, PublicInput,
    SignedProof, WireError, ZkvmOffer,
};
use tree_hash::Hash256;

use crate::error::AdversaryError;
use crate::raw::{self, Announced};

/// The zkVMs honest chaos nodes run (testnet/common.sh).
pub const REAL_ZKVMS: [&str; 4] = ["stark", "sim:sp1-hypercube", "sim:pico-prism", "sim:zisk-8x5090"];
/// The most offers a heartbeat may carry (specs/p2p.md §3).
const MAX_OFFERS: usize = 16;
/// `stark`'s proof type on the wire.
const STARK_PROOF_TYPE: u8 = 0x80;

/// A zkVM nobody runs, so nobody can verify its proofs.
pub fn made_up(i: usize) -> String {
    format!("fake-zkvm-{i:02}")
}

/// zkVM names aimed at store keys `r/{hash}/{zkvm}/{node}` and at filters:
/// a separator, a parent dir, a NUL, non-UTF-8, one over the 64-byte bound.
pub fn injected_names() -> Vec<Vec<u8>> {
    vec![
        b"stark/0".to_vec(),
        b"../x".to_vec(),
        b"stark\0".to_vec(),
        b"sim:pico-prism/12D3KooW".to_vec(),
        vec![0xff, 0xfe, b's'],
        vec![b'a'; 255],
    ]
}

/// Pseudo-random bytes (incompressible, so snappy cannot shrink them).
pub fn noise(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new().update(seed).finalize_xof().fill(&mut out);
    out
}

fn name_of(bytes: &[u8]) -> Result<Name, WireError> {
    Name::new(bytes.to_vec()).map_err(|_| WireError::Bound { what: "zkvm name" })
}

/// A heartbeat offering 16 zkVMs: all made up, or the four real ones first.
pub fn sybil_heartbeat(me: &str, seq: u64, task: &BlockTask, with_real: bool) -> Result<Vec<u8>, AdversaryError> {
    let real = if with_real { REAL_ZKVMS.len() } else { 0 };
    let mut offers = Vec::with_capacity(MAX_OFFERS);
    for z in REAL_ZKVMS.iter().take(real) {
        offers.push(ZkvmOffer::new(z, "9.9.9", STARK_PROOF_TYPE, u16::MAX)?);
    }
    for i in 0..MAX_OFFERS - real {
        offers.push(ZkvmOffer::new(&made_up(i), "1.0.0", 0xfe, u16::MAX)?);
    }
    let hb = Heartbeat::new(me, seq, (task.number, wire::hash32(&task.hash)), offers, 0)?;
    Ok(wire::encode(&hb))
}

/// Claims of rank 0 for every real zkVM, and progress, for proofs it never makes.
pub fn phantom_claims(me: &str, task: &BlockTask) -> Result<Vec<Vec<u8>>, AdversaryError> {
    let hash = wire::hash32(&task.hash);
    let mut out = Vec::new();
    for z in REAL_ZKVMS {
        out.push(wire::encode(&Claim::new(task.number, hash, z, me, 0)?));
        out.push(wire::encode(&Progress::new(task.number, hash, z, me, 50)?));
    }
    Ok(out)
}

/// Claims and announcements whose zkVM names are injections (hand-encoded,
/// so even the name over the bound goes out).
pub fn injected_messages(me: &str, task: &BlockTask) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, name) in injected_names().iter().enumerate() {
        out.push(raw::claim(task.number, task.hash.0, name, me.as_bytes(), 0));
        let root = noise(&[name.as_slice(), &task.hash.0].concat(), 32);
        out.push(raw::announcement(&Announced {
            number: task.number,
            hash: task.hash.0,
            zkvm: name,
            node_id: me.as_bytes(),
            proof_bytes: 1000 + i as u64,
            root: root.try_into().unwrap_or([0; 32]),
        }));
    }
    out
}

/// An envelope for (number, hash) with any zkVM name, signed by `key`.
fn signed(
    key: &Keypair,
    me: &str,
    (number, hash): (u64, Hash256),
    zkvm: &[u8],
    proof: Vec<u8>,
) -> Result<SignedProof, AdversaryError> {
    let mut public_values = hash.0.to_vec();
    public_values.extend_from_slice(&number.to_le_bytes());
    let envelope = ProofEnvelope {
        number,
        hash,
        zkvm: name_of(zkvm)?,
        node_id: wire::name(me)?,
        proving_ms: 1,
        public_values: wire::bytes(public_values, "public values")?,
        proof: ExecutionProof {
            proof_data: wire::bytes(proof, "proof")?,
            proof_type: STARK_PROOF_TYPE,
            public_input: PublicInput { new_payload_request_root: hash },
        },
    };
    Ok(sign(key, envelope)?)
}

/// The junk proofs for one block, each with the zkVM name it is served under:
/// garbage for `stark` (validly signed), a broken signature, the wrong block,
/// a large proof of a zkVM nobody can verify, and proofs under injected names.
pub fn junk_proofs(
    key: &Keypair,
    me: &str,
    task: &BlockTask,
    junk_bytes: usize,
) -> Result<Vec<(Vec<u8>, SignedProof)>, AdversaryError> {
    let block = (task.number, task.hash);
    let seed = task.hash.0;
    let mut out = vec![(b"stark".to_vec(), signed(key, me, block, b"stark", noise(&seed, 2048))?)];
    let mut broken = signed(key, me, block, b"sim:pico-prism", noise(&seed, 64))?;
    broken.signature[0] ^= 1;
    out.push((b"sim:pico-prism".to_vec(), broken));
    let elsewhere = Hash256::from(<[u8; 32]>::try_from(noise(b"wrong block", 32)).unwrap_or([9; 32]));
    out.push((
        b"sim:zisk-8x5090".to_vec(),
        signed(key, me, (task.number, elsewhere), b"sim:zisk-8x5090", vec![1; 64])?,
    ));
    let unverifiable = made_up(task.number as usize % MAX_OFFERS).into_bytes();
    let big = noise(&[&seed[..], b"big"].concat(), junk_bytes.min(4 * 1024 * 1024));
    out.push((unverifiable.clone(), signed(key, me, block, &unverifiable, big)?));
    for name in injected_names().into_iter().filter(|n| n.len() <= 64) {
        let proof = signed(key, me, block, &name, noise(&name, 512))?;
        out.push((name, proof));
    }
    Ok(out)
}

/// The announcement of one of its junk proofs.
pub fn announce(signed: &SignedProof) -> Vec<u8> {
    wire::encode(&ProofAnnouncement::of(signed))
}

/// `count` announcements of proofs it does not hold (random roots, real zkVMs).
pub fn phantom_announcements(me: &str, task: &BlockTask, count: usize, round: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let root = noise(&[&task.hash.0[..], &round.to_le_bytes(), &i.to_le_bytes()].concat(), 32);
            raw::announcement(&Announced {
                number: task.number,
                hash: task.hash.0,
                zkvm: REAL_ZKVMS[i % REAL_ZKVMS.len()].as_bytes(),
                node_id: me.as_bytes(),
                proof_bytes: 300_000,
                root: root.try_into().unwrap_or([0; 32]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use slotproof_p2p::envelope::check;
    use slotproof_p2p::topics::MAX_CONTROL_MESSAGE_BYTES;

    use super::*;

    fn task() -> BlockTask {
        BlockTask {
            number: 12,
            hash: Hash256::from([4; 32]),
            parent_hash: Hash256::from([3; 32]),
            slot: 1,
            deadline_ms: 0,
        }
    }

    #[test]
    fn a_sybil_heartbeat_offers_sixteen_zkvms_and_fits_the_topic_cap() {
        let me = Keypair::generate_ed25519().public().to_peer_id().to_string();
        for with_real in [false, true] {
            let bytes = sybil_heartbeat(&me, 1, &task(), with_real).unwrap();
            let hb: Heartbeat = wire::decode(&bytes, MAX_CONTROL_MESSAGE_BYTES).unwrap();
            assert_eq!(hb.zkvms.len(), MAX_OFFERS);
            assert_eq!(hb.zkvm_names().contains("stark"), with_real);
        }
    }

    #[test]
    fn junk_proofs_carry_what_each_attack_needs() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id().to_string();
        let junk = junk_proofs(&key, &me, &task(), 100_000).unwrap();
        let by = |z: &[u8]| junk.iter().find(|(n, _)| n == z).map(|(_, p)| p).unwrap();
        assert!(check(by(b"stark")).is_ok(), "garbage under a valid signature");
        assert!(check(by(b"sim:pico-prism")).is_err(), "a broken signature");
        assert_ne!(by(b"sim:zisk-8x5090").message.hash, task().hash, "the wrong block");
        assert_eq!(by(b"stark/0").message.zkvm.to_vec(), b"stark/0".to_vec());
        assert!(junk.iter().any(|(_, p)| p.message.proof.proof_data.len() == 100_000), "the large unverifiable one");
    }

    #[test]
    fn every_control_message_fits_its_topic_cap() {
        let me = Keypair::generate_ed25519().public().to_peer_id().to_string();
        let all = phantom_claims(&me, &task())
            .unwrap()
            .into_iter()
            .chain(injected_messages(&me, &task()))
            .chain(phantom_announcements(&me, &task(), 4, 0));
        for m in all {
            assert!(snap::raw::decompress_len(&m).unwrap() <= MAX_CONTROL_MESSAGE_BYTES);
        }
    }
}
