//! The STARK configuration: KoalaBear with a degree-4 extension, Poseidon2
//! Merkle commitments, FRI. The parameters are fixed here, never read from a
//! proof, so a prover cannot weaken what a verifier accepts.

use p3_air::symbolic::AirLayout;
use p3_challenger::DuplexChallenger;
use p3_commit::{ExtensionMmcs, Pcs};
use p3_dft::Radix2DitParallel;
use p3_field::Field;
use p3_field::extension::BinomialExtensionField;
use p3_fri::{FriParameters, TwoAdicFriPcs};
use p3_koala_bear::{KoalaBear, Poseidon2KoalaBear, default_koalabear_poseidon2_16};
use p3_merkle_tree::MerkleTreeMmcs;
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};
use p3_uni_stark::{ConjecturedSecurity, OpeningShape, StarkConfig, StarkGenericConfig, StarkSecurityParams};

use super::air::{HeaderHashAir, generate_trace, hash_limbs};
use crate::error::ProverError;

type Val = KoalaBear;
type Challenge = BinomialExtensionField<Val, 4>;
type Perm = Poseidon2KoalaBear<16>;
type Hash = PaddingFreeSponge<Perm, 16, 8, 8>;
type Compress = TruncatedPermutation<Perm, 2, 8, 16>;
type ValMmcs = MerkleTreeMmcs<<Val as Field>::Packing, <Val as Field>::Packing, Hash, Compress, 2, 8>;
type ChallengeMmcs = ExtensionMmcs<Val, Challenge, ValMmcs>;
type Challenger = DuplexChallenger<Val, Perm, 16, 8>;
type Dft = Radix2DitParallel<Val>;
type StarkPcs = TwoAdicFriPcs<Val, Dft, ValMmcs, ChallengeMmcs>;
type Config = StarkConfig<StarkPcs, Challenge, Challenger>;
type Proof = p3_uni_stark::Proof<Config>;

/// The FRI parameters of `stark` proofs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StarkParams {
    pub log_blowup: usize,
    pub num_queries: usize,
    pub max_log_arity: usize,
    pub log_final_poly_len: usize,
    pub query_pow_bits: usize,
    /// Grinding before the opening-batching challenge, which on this wide trace
    /// is otherwise the weakest round.
    pub batch_pow_bits: usize,
}

/// Chosen for proof size: a 32x blowup gives 5 bits per query, so 18 queries
/// plus 16 bits of grinding give 104 bits (conjectured, Plonky3's estimator)
/// with a proof under 300 KiB; the 2-core prover still finishes inside a second.
pub const PARAMS: StarkParams = StarkParams {
    log_blowup: 5,
    num_queries: 18,
    max_log_arity: 3,
    log_final_poly_len: 2,
    query_pow_bits: 16,
    batch_pow_bits: 8,
};

/// Names the statement, the library and the parameters.
pub const VERSION: &str = "keccak256-header/plonky3-0.8/koalabear-poseidon2/v1";

/// Where FRI and the constraint batching work: KoalaBear (p < 2^31) to the 4th.
const CHALLENGE_FIELD_BITS: usize = 123;
/// Poseidon2 digests of 8 KoalaBear elements (248 bits): 124-bit collision resistance.
const COLLISION_BITS: usize = 124;

fn fri_params(params: &StarkParams, mmcs: ChallengeMmcs) -> FriParameters<ChallengeMmcs> {
    FriParameters {
        log_blowup: params.log_blowup,
        log_final_poly_len: params.log_final_poly_len,
        max_log_arity: params.max_log_arity,
        num_queries: params.num_queries,
        batch_proof_of_work_bits: params.batch_pow_bits,
        commit_proof_of_work_bits: 0,
        query_proof_of_work_bits: params.query_pow_bits,
        mmcs,
    }
}

fn config() -> Config {
    let perm = default_koalabear_poseidon2_16();
    let val_mmcs = ValMmcs::new(Hash::new(perm.clone()), Compress::new(perm.clone()), 0);
    let pcs = StarkPcs::new(Dft::default(), val_mmcs.clone(), fri_params(&PARAMS, ChallengeMmcs::new(val_mmcs)));
    Config::new(pcs, Challenger::new(perm))
}

pub(super) fn prove(message: &[u8], hash: &[u8; 32]) -> Result<Vec<u8>, ProverError> {
    let air = HeaderHashAir::new(message);
    let trace = generate_trace::<Val>(&air, message, PARAMS.log_blowup);
    let proof = p3_uni_stark::prove(&config(), &air, trace, &hash_limbs(hash))
        .map_err(|e| ProverError::Permanent(format!("stark prover: {e:?}")))?;
    postcard::to_allocvec(&proof).map_err(|e| ProverError::Permanent(format!("stark proof encoding: {e}")))
}

pub(super) fn verify(message: &[u8], hash: &[u8; 32], proof: &[u8]) -> Result<(), ProverError> {
    let proof: Proof =
        postcard::from_bytes(proof).map_err(|e| ProverError::Invalid(format!("stark proof does not decode: {e}")))?;
    let air = HeaderHashAir::new(message);
    // Proofs come from peers: a shape the library did not foresee must be a
    // rejection, not a crashed node.
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p3_uni_stark::verify(&config(), &air, &proof, &hash_limbs(hash))
    }));
    match verdict {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ProverError::Invalid(format!("stark proof does not verify: {e:?}"))),
        Err(_) => Err(ProverError::Invalid("stark proof is malformed (the verifier refused its shape)".into())),
    }
}

/// Conjectured security of a proof for a header of `message_len` bytes, by
/// Plonky3's own estimator (the "random words" regime of ePrint 2025/2010).
pub fn security_bits(message_len: usize) -> usize {
    security_bits_with(&PARAMS, message_len)
}

fn security_bits_with(fri_choice: &StarkParams, message_len: usize) -> usize {
    let air = HeaderHashAir::new(&vec![0u8; message_len]);
    let config = config();
    let height = (air.num_blocks() * p3_keccak_air::NUM_ROUNDS).next_power_of_two();
    let domain = <StarkPcs as Pcs<Challenge, Challenger>>::natural_domain_for_degree(config.pcs(), height);
    let fri = fri_params(
        fri_choice,
        ChallengeMmcs::new(ValMmcs::new(
            Hash::new(default_koalabear_poseidon2_16()),
            Compress::new(default_koalabear_poseidon2_16()),
            0,
        )),
    );
    let layout = AirLayout::from_air::<Val>(&air);
    let params = StarkSecurityParams::from_air::<Val, Challenge, _>(
        fri.security_regime(),
        &air,
        layout,
        domain,
        CHALLENGE_FIELD_BITS,
        COLLISION_BITS,
        2,
        OpeningShape::new(),
        fri.grinding_sites(),
    );
    ConjecturedSecurity::compute_from_params(&params, height.trailing_zeros() as usize).security_bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_clear_100_bits_where_fewer_queries_would_not() {
        // Headers run from ~500 bytes (pre-London) to ~700 (Prague); a message
        // of up to 9 blocks keeps the trace at 256 rows.
        for len in [500, 620, 700, 1200] {
            assert!(security_bits(len) >= 100, "{len}-byte header: {} bits", security_bits(len));
        }
        // The query count is what binds: the estimator is not flat in it.
        let fewer = StarkParams { num_queries: PARAMS.num_queries - 2, ..PARAMS };
        assert!(security_bits_with(&fewer, 620) < 100);
    }
}
