//! The AIR of the built-in STARK statement: the Keccak-256 sponge over a
//! header's RLP, absorption included, ends in the claimed block hash.
//!
//! Trace layout: Plonky3's Keccak-f[1600] columns (one permutation every 24
//! rows) followed by one selector column per absorbed block. The selectors
//! are not trusted: they start as (1, 0, …) and shift by one after each
//! permutation's last round, so each row knows which block it works on.
//!
//! The padded message is a constant of the AIR: a verifier builds the same
//! AIR from the header it holds, so the proof says nothing a verifier could
//! not also recompute, but it is a real STARK over real Keccak work.

use core::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{PrimeCharacteristicRing, PrimeField64};
use p3_keccak_air::{KeccakAir, KeccakCols, NUM_KECCAK_COLS, NUM_ROUNDS, U64_LIMBS, generate_trace_rows};
use p3_matrix::dense::RowMajorMatrix;
use p3_uni_stark::SubAirBuilder;
use slotproof_primitives::keccak::{RATE_LANES, padded_blocks};

/// Public values: the 256-bit hash as sixteen 16-bit limbs (lane-major,
/// little-endian within a lane, as Keccak lays out its output).
pub const HASH_LIMBS: usize = 16;

pub struct HeaderHashAir {
    blocks: Vec<[u64; RATE_LANES]>,
}

impl HeaderHashAir {
    pub fn new(message: &[u8]) -> Self {
        HeaderHashAir { blocks: padded_blocks(message) }
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Bit `z` (0..64) of lane `lane` of absorbed block `block`; capacity lanes are 0.
    fn block_bit(&self, block: usize, lane: usize, z: usize) -> bool {
        lane < RATE_LANES && (self.blocks[block][lane] >> z) & 1 == 1
    }

    fn block_limb(&self, block: usize, lane: usize, limb: usize) -> u64 {
        if lane < RATE_LANES { (self.blocks[block][lane] >> (16 * limb)) & 0xffff } else { 0 }
    }
}

/// The hash as public values.
pub fn hash_limbs<F: PrimeCharacteristicRing>(hash: &[u8; 32]) -> Vec<F> {
    hash.chunks_exact(2).map(|pair| F::from_u16(u16::from_le_bytes([pair[0], pair[1]]))).collect()
}

/// The permutation inputs of the Keccak-256 sponge over `message` (what the
/// Keccak AIR's rows start from): state_0 = block_0, state_i = f(state_{i-1})
/// xor block_i. Also returns the final state, whose first four lanes are the hash.
fn sponge_inputs(message: &[u8]) -> (Vec<[u64; 25]>, [u64; 25]) {
    let mut state = [0u64; 25];
    let mut inputs = Vec::new();
    for block in padded_blocks(message) {
        for (lane, word) in block.iter().enumerate() {
            state[lane] ^= word;
        }
        inputs.push(state);
        keccak::f1600(&mut state);
    }
    (inputs, state)
}

/// The witness: the permutations of the sponge and the block selectors.
pub fn generate_trace<F: PrimeField64>(
    air: &HeaderHashAir,
    message: &[u8],
    extra_capacity_bits: usize,
) -> RowMajorMatrix<F> {
    let (inputs, _) = sponge_inputs(message);
    let perms = inputs.len();
    let keccak: RowMajorMatrix<F> = generate_trace_rows(inputs, 0);
    let blocks = air.num_blocks();
    let width = NUM_KECCAK_COLS + blocks;
    let height = keccak.values.len() / NUM_KECCAK_COLS;
    let mut values = F::zero_vec((height * width) << extra_capacity_bits);
    values.truncate(height * width);
    for (row, (dst, src)) in values.chunks_exact_mut(width).zip(keccak.values.chunks_exact(NUM_KECCAK_COLS)).enumerate()
    {
        dst[..NUM_KECCAK_COLS].copy_from_slice(src);
        let perm = row / NUM_ROUNDS;
        if perm < perms {
            dst[NUM_KECCAK_COLS + perm] = F::ONE;
        }
    }
    RowMajorMatrix::new(values, width)
}

impl<F> BaseAir<F> for HeaderHashAir {
    fn width(&self) -> usize {
        NUM_KECCAK_COLS + self.blocks.len()
    }

    fn num_public_values(&self) -> usize {
        HASH_LIMBS
    }
}

impl<AB: AirBuilder> Air<AB> for HeaderHashAir {
    fn eval(&self, builder: &mut AB) {
        // Every permutation is a correct Keccak-f[1600].
        let mut keccak = SubAirBuilder::<AB, KeccakAir, AB::Var>::new(builder, 0..NUM_KECCAK_COLS);
        KeccakAir {}.eval(&mut keccak);

        let main = builder.main();
        let (local_row, next_row) = (main.current_slice(), main.next_slice());
        let local: &KeccakCols<AB::Var> = local_row[..NUM_KECCAK_COLS].borrow();
        let next: &KeccakCols<AB::Var> = next_row[..NUM_KECCAK_COLS].borrow();
        let sel = &local_row[NUM_KECCAK_COLS..];
        let sel_next = &next_row[NUM_KECCAK_COLS..];
        let blocks = self.blocks.len();
        let last_round: AB::Expr = local.step_flags[NUM_ROUNDS - 1].into();
        let not_last_round = AB::Expr::ONE - last_round.clone();

        // Selectors: block 0 first, shifted by one after each permutation.
        builder.when_first_row().assert_one(sel[0]);
        for s in &sel[1..] {
            builder.when_first_row().assert_zero(*s);
        }
        for i in 0..blocks {
            let carried = if i == 0 { AB::Expr::ZERO } else { last_round.clone() * sel[i - 1] };
            builder.when_transition().assert_eq(sel_next[i], not_last_round.clone() * sel[i] + carried);
        }

        // Absorb block 0 into the zero state: the first permutation's input is the block.
        for lane in 0..25 {
            let (y, x) = (lane / 5, lane % 5);
            for limb in 0..U64_LIMBS {
                let limb_value = AB::Expr::from_u64(self.block_limb(0, lane, limb));
                builder.when_first_row().assert_eq(local.preimage[y][x][limb], limb_value);
            }
        }

        // Absorb block i ≥ 1: after permutation i-1, the next input is its output
        // xor block i. With the block known, x xor b = x + b - 2·(x and b), where
        // (x and b) sums the input bits at b's set positions. The next row's input
        // bits are a' xor c xor c' (how the Keccak AIR range-checks its input).
        let input_bit = |y: usize, x: usize, z: usize| -> AB::Expr {
            let c: AB::Expr = next.c[x][z].into();
            let c_xor_c_prime = c.xor(&next.c_prime[x][z].into());
            let a_prime: AB::Expr = next.a_prime[y][x][z].into();
            a_prime.xor(&c_xor_c_prime)
        };
        let absorbing: AB::Expr = sel[..blocks - 1].iter().map(|s| (*s).into()).sum();
        for lane in 0..25 {
            let (y, x) = (lane / 5, lane % 5);
            for limb in 0..U64_LIMBS {
                let output: AB::Expr = local.a_prime_prime_prime(y, x, limb).into();
                let next_input: AB::Expr = next.a[y][x][limb].into();
                // Σ_i sel_{i-1} · (next_input xor block_i), as one linear form per bit.
                let mut expected = next_input * absorbing.clone();
                for i in 1..blocks {
                    expected += sel[i - 1].into() * AB::Expr::from_u64(self.block_limb(i, lane, limb));
                }
                for bit in 0..16 {
                    let z = limb * 16 + bit;
                    let set_in: Vec<usize> = (1..blocks).filter(|&i| self.block_bit(i, lane, z)).collect();
                    if set_in.is_empty() {
                        continue;
                    }
                    let weight: AB::Expr = set_in.iter().map(|&i| sel[i - 1].into()).sum();
                    expected -= weight * input_bit(y, x, z) * AB::Expr::from_u64(2 << bit);
                }
                builder.when(last_round.clone()).assert_eq(output * absorbing.clone(), expected);
            }
        }

        // Squeeze: the last permutation's output begins with the hash.
        let public: Vec<AB::Expr> = builder.public_values().iter().map(|p| (*p).into()).collect();
        let finishing = last_round * sel[blocks - 1];
        for (i, expected) in public.iter().enumerate().take(HASH_LIMBS) {
            let (lane, limb) = (i / U64_LIMBS, i % U64_LIMBS);
            let output: AB::Expr = local.a_prime_prime_prime(0, lane, limb).into();
            builder.when(finishing.clone()).assert_eq(output, expected.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use p3_air::check_all_constraints;
    use p3_keccak_air::KeccakCols;
    use p3_koala_bear::KoalaBear;
    use slotproof_primitives::keccak::{RATE_BYTES, keccak256};

    use super::*;

    type F = KoalaBear;

    /// Two blocks and a half: absorption runs twice after the first permutation.
    const MESSAGE: &[u8] = &[0x5a; 300];

    fn trace() -> (HeaderHashAir, RowMajorMatrix<F>, Vec<F>) {
        let air = HeaderHashAir::new(MESSAGE);
        let trace = generate_trace::<F>(&air, MESSAGE, 0);
        (air, trace, hash_limbs(keccak256(MESSAGE).as_bytes()))
    }

    fn col_map() -> KeccakCols<usize> {
        let mut cols = [0usize; NUM_KECCAK_COLS];
        for (i, c) in cols.iter_mut().enumerate() {
            *c = i;
        }
        let map: &KeccakCols<usize> = cols[..].borrow();
        KeccakCols { ..*map }
    }

    fn holds(air: &HeaderHashAir, trace: &RowMajorMatrix<F>, public: &[F]) -> bool {
        check_all_constraints(air, trace, public, Some(1)).is_ok()
    }

    /// The trace is built from these inputs, the hash from primitives' sponge:
    /// both must be the same Keccak-256, padding block included.
    #[test]
    fn the_sponge_inputs_squeeze_to_the_keccak256_hash() {
        for message in [&b""[..], b"abc", &[0x61; RATE_BYTES], MESSAGE] {
            let (inputs, state) = sponge_inputs(message);
            assert_eq!(inputs.len(), padded_blocks(message).len());
            let squeezed: Vec<u8> = state[..4].iter().flat_map(|lane| lane.to_le_bytes()).collect();
            assert_eq!(squeezed, keccak256(message).as_bytes());
        }
        assert_eq!(sponge_inputs(&[0x61; RATE_BYTES]).0.len(), 2);
    }

    #[test]
    fn the_honest_trace_satisfies_every_constraint() {
        let (air, trace, public) = trace();
        assert_eq!(air.num_blocks(), 3);
        assert!(holds(&air, &trace, &public));
    }

    #[test]
    fn another_hash_another_message_or_a_tampered_trace_is_caught() {
        let (air, trace, public) = trace();
        let mut other_hash = public.clone();
        other_hash[5] += F::ONE;
        assert!(!holds(&air, &trace, &other_hash), "claimed hash is bound");

        let mut other_message = MESSAGE.to_vec();
        other_message[200] ^= 1; // lands in the second block: absorption, not the first row
        assert!(!holds(&HeaderHashAir::new(&other_message), &trace, &public), "absorbed blocks are bound");

        let map = col_map();
        let width = trace.width;
        // The second permutation's input, changed consistently everywhere the
        // Keccak AIR looks, still breaks the absorption link.
        let mut tampered = trace.clone();
        for row in 24..48 {
            tampered.values[row * width + map.preimage[0][0][0]] += F::ONE;
        }
        assert!(!holds(&air, &tampered, &public));
        // A selector moved to the wrong permutation.
        let mut tampered = trace.clone();
        tampered.values[30 * width + NUM_KECCAK_COLS + 1] = F::ZERO;
        tampered.values[30 * width + NUM_KECCAK_COLS + 2] = F::ONE;
        assert!(!holds(&air, &tampered, &public));
    }
}
